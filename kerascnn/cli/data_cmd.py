"""``kerascnn data check FOLDER``: check every image first; ``kerascnn data prepare FOLDER --out DIR``: convert an
image folder to sharded TFRecords (a TFDS dataset)."""

from __future__ import annotations


def register(subparsers):
    p = subparsers.add_parser(
        "data",
        help="check image folders, prepare datasets for streaming",
        description="Check and prepare datasets. `kerascnn data check FOLDER` checks every image of a "
        "folder of class subfolders before a long run; `kerascnn data prepare FOLDER --out DIR` writes it "
        "as a TFDS dataset of TFRecord shards; train on it with `kerascnn fit MODEL --dataset DIR`.",
    )
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="check every image of a folder (large folders: fit checks a sample first, the rest as they stream)",
        description="Check every image file of FOLDER (class subfolders, optionally inside train/ and test/) "
        "and list each one that cannot be used, with its reason. `kerascnn fit` checks every header of a "
        "folder of up to 50,000 files before training, but only a seeded sample of a larger one (the rest "
        "as they stream): check an ImageNet-sized folder here first to hear of every bad file at once. "
        "Headers are checked by default (size, mode, pixel limit; what training converts, such as an alpha "
        "channel or 16 bits, passes); --decode also decodes each image as training does, which finds "
        "truncated files too. Exits with 1 when a file cannot be used.",
    )
    check.add_argument("folder", help="folder of class subfolders of images")
    check.add_argument(
        "--decode", action="store_true", help="also decode every image (slower; finds truncated or corrupt data)"
    )
    check.set_defaults(func=run_check, needs_tensorflow=False)  # --decode imports it when it decodes
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


def run_check(args) -> int:
    from kerascnn.data.check import check_image_folder
    from kerascnn.data.folders import problems_message, skipped_note

    result = check_image_folder(args.folder, decode=args.decode, verbose=True)
    note = skipped_note(result.skipped, args.folder)
    if note:
        print(note)
    what = "image" if args.decode else "header"
    if result.problems:
        print(problems_message(result.problems, args.folder))
        return 1
    print(
        f"All {result.files:,} images in {len(result.class_names):,} classes can be used (every {what} "
        f"checked): {'color' if result.color else 'grayscale'}, {result.size_summary()}."
    )
    return 0
