from gitmodels.cli import run

run()
