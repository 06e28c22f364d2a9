"""``kerascnn data prepare FOLDER --out DIR``: convert an image folder to sharded TFRecords (a TFDS dataset)."""

from __future__ import annotations


def register(subparsers):
    p = subparsers.add_parser(
        "data",
        help="prepare datasets for streaming",
        description="Prepare datasets. `kerascnn data prepare FOLDER --out DIR` writes a "
        "folder of class subfolders of images as a TFDS dataset of TFRecord shards; "
        "train on it with `kerascnn fit MODEL --dataset DIR`.",
    )
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prep = sub.add_parser(
        "prepare",
        help="an image folder -> sharded TFRecords (TFDS's writer)",
        description="Write FOLDER (class subfolders, optionally inside train/ and test/) as a TFDS "
        "dataset of TFRecord shards in DIR: a few large files instead of many small "
        "ones stream fast and shard across workers by file. Images are stored as they "
        "are (no re-encoding); each is checked to decode first, and keeps its path, "
        "so later messages name the file. Files that are not images by their "
        "extension (notes.txt, Thumbs.db) are skipped and counted.",
    )
    prep.add_argument("folder", help="folder of class subfolders of images")
    prep.add_argument("--out", required=True, metavar="DIR", help="new folder for the dataset (never overwritten)")
    prep.add_argument(
        "--shard-images", type=int, default=10000, metavar="N", help="images per TFRecord shard (default: %(default)s)"
    )
    prep.add_argument(
        "--test-split",
        type=float,
        default=0.2,
        metavar="F",
        help="test fraction when FOLDER has no test/ part, split by file name exactly as `fit --dataset "
        "FOLDER` splits it (default: %(default)s)",
    )
    prep.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="leave out files that cannot be decoded (default: list them all, each with its reason, and stop)",
    )
    prep.set_defaults(func=run_prepare)


def run_prepare(args) -> int:
    from kerascnn.data.tfrecords import prepare_folder

    path = prepare_folder(
        args.folder,
        args.out,
        shard_images=args.shard_images,
        test_split=args.test_split,
        skip_bad_images=args.skip_bad_images,
        verbose=True,
    )
    print(f"Prepared {args.folder} as a TFDS dataset in {path}; train with: kerascnn fit MODEL --dataset {args.out}")
    return 0
