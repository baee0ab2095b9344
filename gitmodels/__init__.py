"""gitmodels: version machine-learning models next to the code that made them."""
__version__ = "0.1.0"
