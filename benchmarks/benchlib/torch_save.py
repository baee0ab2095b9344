"""W11: time gitmodels.save against torch.save alone on the same PyTorch model, alternating.

Run inside a git repo prepared with `gitmodels init`:
    python torch_save.py NBYTES RUNS
Prints one JSON line {"torch": [s...], "gitmodels": [s...]}. Every run perturbs the weights
first, so neither side can skip work because the same bytes were stored before. Both sides
keep their files until the end: deleting torch's after each run would hand it pages the
kernel just freed while gitmodels' writes need new ones (several times slower on VMs).
"""

import json
import os
import shutil
import sys
import time

import torch


def main() -> None:
    nbytes, runs = int(sys.argv[1]), int(sys.argv[2])
    torch.manual_seed(0)
    width = 2048
    layers = max(1, round(nbytes / (width * width * 4)))
    model = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)])
    import gitmodels

    walls = {"torch": [], "gitmodels": []}
    os.makedirs("ts", exist_ok=True)
    for i in range(runs):
        with torch.no_grad():
            for p in model.parameters():
                p.view(-1)[0] += 1.0
        order = ["torch", "gitmodels"] if i % 2 == 0 else ["gitmodels", "torch"]
        for who in order:
            os.sync()
            t0 = time.perf_counter()
            if who == "torch":
                torch.save(model.state_dict(), f"ts/model{i}.pt")
            else:
                gitmodels.save(model, f"models/m{i}")
            walls[who].append(time.perf_counter() - t0)
    shutil.rmtree("ts", ignore_errors=True)
    print(json.dumps(walls))


if __name__ == "__main__":
    main()
