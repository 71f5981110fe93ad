#!/usr/bin/env python3
"""Export scikit-learn's bundled 8x8 digits data set to testdata/digits/ (no download).

The split is fixed and uses no random numbers: sample i goes to the test split when
i % 5 == 0 (360 images), otherwise to the train split (1,437 images).

Each CSV row is `label,p0,...,p63` with pixels in 0..16, row-major (8 rows of 8).
Re-running this script must reproduce the checked-in files byte for byte (`--check` verifies).
"""
import pathlib
import sys

from sklearn.datasets import load_digits

OUT = pathlib.Path(__file__).resolve().parent.parent / "testdata" / "digits"


def main() -> int:
    digits = load_digits()
    data = digits.data.astype(int)
    target = digits.target.astype(int)
    assert data.shape == (1797, 64), data.shape
    check = "--check" in sys.argv[1:]
    OUT.mkdir(parents=True, exist_ok=True)
    rows = {"train": [], "test": []}
    for i, (pixels, label) in enumerate(zip(data, target)):
        assert 0 <= pixels.min() and pixels.max() <= 16
        split = "test" if i % 5 == 0 else "train"
        rows[split].append(",".join([str(label)] + [str(p) for p in pixels]))
    for split, lines in rows.items():
        path = OUT / f"{split}.csv"
        text = "\n".join(lines) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                print(f"{path} differs from scikit-learn's digits")
                return 1
            print(f"{path}: reproduced ({len(lines)} images)")
            continue
        path.write_text(text)
        print(f"{path}: {len(lines)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
