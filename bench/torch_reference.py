"""PyTorch's forward + backward time on loss-bench's workloads (`loss-bench workloads` runs it).

Prints one line per workload, `name<TAB>median ms`, for the same shapes and settings as
crates/burn-losses-bench/src/workloads.rs: float32 on the CPU, `torch.set_num_threads(threads)`,
one warm-up run, median of `iterations`. Cross-entropy is `F.cross_entropy`; focal is the
softmax focal loss written as users port it; Dice is MONAI's `DiceLoss` (softmax, one-hot
targets from indices; sigmoid for the binary workload); BCE is
`F.binary_cross_entropy_with_logits` on 0/1 float targets; binary focal is torchvision's
`sigmoid_focal_loss` (alpha 0.25, gamma 2, mean); generalized Dice is MONAI's
`GeneralizedDiceLoss` (softmax, one-hot targets from indices, square weights).

    python bench/torch_reference.py ITERATIONS THREADS
"""

import sys
import time

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss, GeneralizedDiceLoss
from torchvision.ops import sigmoid_focal_loss

iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 5
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)


def focal(x, t, gamma=2.0):
    log_p = F.log_softmax(x, 1).gather(1, t.unsqueeze(1)).squeeze(1)
    return (-(1 - log_p.exp()) ** gamma * log_p).mean()


dice_softmax = DiceLoss(to_onehot_y=True, softmax=True)
dice_sigmoid = DiceLoss(sigmoid=True)
generalized_dice = GeneralizedDiceLoss(to_onehot_y=True, softmax=True)


def workloads():
    def classes(shape):
        n, c, *rest = shape
        return torch.randint(0, c, (n, *rest))

    big = (16, 8, 256, 256)
    yield "cross-entropy [16, 8, 256, 256]", big, classes(big), F.cross_entropy
    yield "focal [16, 8, 256, 256]", big, classes(big), focal
    yield "dice, index targets [16, 8, 256, 256]", big, classes(big).unsqueeze(1), dice_softmax
    binary = (16, 1, 256, 256)
    yield "binary dice [16, 1, 256, 256]", binary, torch.randint(0, 2, binary).float(), dice_sigmoid
    small = (8, 4, 128, 128)
    yield "cross-entropy [8, 4, 128, 128]", small, classes(small), F.cross_entropy
    wide = (4096, 1000)
    yield "cross-entropy [4096, 1000]", wide, classes(wide), F.cross_entropy
    masks = torch.randint(0, 2, big).float()
    yield "bce with logits [16, 8, 256, 256]", big, masks, F.binary_cross_entropy_with_logits
    binary_focal = lambda x, t: sigmoid_focal_loss(x, t, reduction="mean")  # noqa: E731
    yield "binary focal [16, 1, 256, 256]", binary, torch.randint(0, 2, binary).float(), binary_focal
    yield (
        "generalized dice, index targets [16, 8, 256, 256]",
        big,
        classes(big).unsqueeze(1),
        generalized_dice,
    )


for name, shape, targets, loss in workloads():
    logits = torch.randn(shape) * 2

    def step():
        x = logits.clone().requires_grad_()
        loss(x, targets).backward()

    step()
    runs = []
    for _ in range(iterations):
        start = time.perf_counter()
        step()
        runs.append(time.perf_counter() - start)
    runs.sort()
    print(f"{name}\t{runs[len(runs) // 2] * 1e3:.2f}", flush=True)
