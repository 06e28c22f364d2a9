"""Streaming parts: image files (a folder) or TFDS records decoded by tf.data while training runs.

A :class:`StreamPart` is one part (train, validation or test) of a dataset too large to keep in memory
(or forced to stream with a cache budget of 0). Nothing is decoded before training starts:

    names (file paths, or TFDS ids) -> [shard per worker] -> [shuffle the names] -> read + decode_image
    + gray/RGB + resize to the model input (parallel, in order) -> bad-image guard -> batch -> preprocess

Every image is resized once, from its own size to the model's (``tf.image.resize`` with antialiasing),
so a folder of mixed sizes is never squashed to one size first. The DataSpec of a streamed set has
``image_shape == (H, W, C)`` of the model input: the pipeline's own resize is the data's.

Headers are checked before training (:mod:`kerascnn.data.folders`: every file of a folder up to a size, a
sample of a larger one); what is bad mid-stream (a file not sampled, or deleted, replaced or turned into a
symlink loop while training, corrupt pixel data) stops the run
with one line naming the file and why (:class:`BadImageError`, :func:`file_problem`), or, with
``skip_bad_images``, is dropped and counted once (:class:`BadImages`). A file is read where it is decoded,
inside the guard, so a read error takes its own position and blames its own name.
tf.data cannot catch a decoding error inside a map, so the guard is built from its own parts: every
element carries its position in the pass and the name of the element before it; ``ignore_errors``
drops what failed to decode; a ``scan`` that sees a position jump knows the element before the one it
holds was dropped, and names it.
"""

from __future__ import annotations

import os
import re

import numpy as np

from kerascnn.errors import DataError

BAD_IMAGE_MARK = "kerascnn-bad-image:"
DECODE_PARALLELISM = None  # None: tf.data.AUTOTUNE
STORED_SUFFIX = " (as stored in the prepared dataset)"  # names of a `data prepare` folder's records


class BadImageError(DataError):
    """An image file met while streaming could not be decoded."""


class BadImages:
    """The bad images a pipeline dropped (``skip_bad_images``): names, counted once each."""

    def __init__(self, skip: bool = False):
        self.skip = bool(skip)
        self.names: set = set()

    def record(self, name) -> None:
        self.names.add(os.fsdecode(name) if isinstance(name, bytes) else str(name))

    @property
    def count(self) -> int:
        return len(self.names)


def bad_image_message(error_text: str) -> str | None:
    """The one-line message for a guard failure inside a TensorFlow error text, or None if it is another error."""
    m = re.search(re.escape(BAD_IMAGE_MARK) + r"\]?\s*\[?b?['\"]?([^'\"\]\n]+)", error_text)
    if not m:
        return None
    name = m.group(1)
    return (
        f"{file_problem(name)}; remove or fix it and rerun (the run resumes from its last finished epoch; "
        "--allow-data-change if files were removed), or pass --skip-bad-images to drop such files and count them."
    )


def file_problem(name: str) -> str:
    """Why the file (or record) ``name`` failed, found out again now: it is missing, unreadable, or no image."""
    from kerascnn.data.image_policy import inspect

    if name.endswith(STORED_SUFFIX) or "tfrecord" in name:
        return f"{name} cannot be decoded"
    if not os.path.lexists(name):
        return f"{name} cannot be used: it is no longer there (deleted or renamed while training)"
    try:
        with open(name, "rb") as f:
            f.read(1)
    except OSError as e:
        return f"{name} cannot be read: {e.strerror or type(e).__name__}"
    try:
        inspect(name, convertible=True)
    except DataError as e:
        return str(e)
    return f"{name} cannot be decoded: its image data is corrupt or truncated"


def _header_pixels(contents):
    """Width x height from a JPEG's or PNG's header (no pixel decoded); 0 for other formats."""
    import tensorflow as tf

    def png():
        ihdr = tf.io.decode_raw(tf.strings.substr(contents, 16, 8), tf.uint8)
        ihdr = tf.cast(ihdr, tf.int64)
        width = ihdr[0] * 2**24 + ihdr[1] * 2**16 + ihdr[2] * 2**8 + ihdr[3]
        height = ihdr[4] * 2**24 + ihdr[5] * 2**16 + ihdr[6] * 2**8 + ihdr[7]
        return width * height

    is_png = tf.logical_and(
        tf.strings.length(contents) >= 24, tf.equal(tf.strings.substr(contents, 0, 8), b"\x89PNG\r\n\x1a\n")
    )
    return tf.case(
        [
            (
                tf.io.is_jpeg(contents),
                lambda: tf.reduce_prod(tf.cast(tf.image.extract_jpeg_shape(contents)[:2], tf.int64)),
            ),
            (is_png, png),
        ],
        default=lambda: tf.constant(0, tf.int64),
    )


def _composite(image):
    """uint8 [h, w, 2|4] (gray or RGB, and alpha) -> [h, w, 1|3] flattened on the background."""
    import tensorflow as tf

    from kerascnn.data.image_policy import ALPHA_BACKGROUND

    x = tf.cast(image, tf.float32)
    alpha = x[..., -1:] / 255.0
    flat = tf.round(x[..., :-1] * alpha + float(ALPHA_BACKGROUND) * (1.0 - alpha))
    return tf.cast(flat, tf.uint8)


def decode_resized(contents, size, channels: int, max_pixels: int | None = None):
    """Encoded image bytes -> float32 ``[H, W, channels]`` in 0..255 at ``size``, and the native channel count.

    kerascnn's image policy (:mod:`kerascnn.data.image_policy`) holds here too: more pixels than its limit
    (read from a JPEG/PNG header before decoding) or an alpha channel fails, as a bad image.
    """
    import tensorflow as tf

    from kerascnn.data.image_policy import max_pixels as policy_max_pixels

    limit = int(max_pixels or policy_max_pixels())
    checks = [tf.debugging.assert_less_equal(_header_pixels(contents), tf.constant(limit, tf.int64))]
    with tf.control_dependencies(checks):
        image = tf.io.decode_image(contents, channels=0, expand_animations=False)  # uint8 [h, w, n]
    native = tf.shape(image)[-1]
    with tf.control_dependencies(
        [
            tf.debugging.assert_less_equal(
                tf.cast(tf.reduce_prod(tf.shape(image)[:2]), tf.int64), tf.constant(limit, tf.int64)
            )
        ]
    ):
        image = tf.identity(image)
    # 1 = L, 3 = RGB; 2 (LA) and 4 (RGBA) carry transparency: composited on ALPHA_BACKGROUND, as a viewer shows it
    image = tf.cond(native % 2 == 0, lambda: _composite(image), lambda: image)
    native = native - 1 + native % 2
    gray = native == 1
    if channels == 1:
        image = tf.cond(
            gray,
            lambda: image[..., :1],
            lambda: tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image[..., :3], tf.float32))), tf.uint8),
        )
    else:
        image = tf.cond(gray, lambda: tf.repeat(image[..., :1], 3, axis=-1), lambda: image[..., :3])
    image.set_shape([None, None, channels])
    same = tf.reduce_all(tf.equal(tf.shape(image)[:2], tf.constant(size, tf.int32)))
    # an image already at the model's size is only cast (the antialiased resize costs as much as the decode)
    resized = tf.cond(
        same,
        lambda: tf.cast(image, tf.float32),
        lambda: tf.image.resize(image, size, method="bilinear", antialias=True),
    )
    resized.set_shape([*size, channels])
    return resized, native


WINDOW = 16  # names carried per element: a run of up to 16 consecutive bad files is named in full


def _guard(ds, decode, shape, bad: BadImages, *, finite: bool):
    """``(name, payload, label)`` elements -> ``(image, label)``, with bad inputs named or dropped."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    ds = ds.enumerate()
    if finite:  # a sentinel after the last element, so that a bad last image is noticed too
        ds = ds.concatenate(
            tf.data.Dataset.from_tensors(
                (tf.constant(-1, tf.int64), (tf.constant(""), tf.constant(""), tf.constant(-1, tf.int64)))
            )
        )

    def carry_names(window, element):  # window: the names of the WINDOW elements before this one
        position, (name, payload, label) = element
        return tf.concat([window[1:], [name]], 0), (position, window, name, payload, label)

    ds = ds.scan(tf.fill([WINDOW], ""), carry_names)

    def decode_element(position, window, name, payload, label):
        image = tf.cond(position < 0, lambda: tf.zeros(shape, tf.float32), lambda: decode(payload))
        return position, window, name, image, label

    ds = ds.map(decode_element, num_parallel_calls=DECODE_PARALLELISM or autotune, deterministic=True)
    ds = ds.ignore_errors()  # drops what failed to decode; the scan below notices the gap

    def record(names):
        for n in names.numpy():
            if n:
                bad.record(n)
        return np.int64(0)

    def check(state, element):
        expected, last_name = state
        position, window, name, image, label = element
        is_sentinel = position < 0
        # dropped before this element: positions expected..position-1 (for the sentinel: the pass's last
        # element, which is window[-1], unless it came through as last_name)
        gap = tf.where(
            is_sentinel,
            tf.cast(tf.logical_and(window[-1] != "", window[-1] != last_name), tf.int64),
            position - expected,
        )
        missing = window[WINDOW - tf.cast(tf.minimum(gap, WINDOW), tf.int32) :]
        if bad.skip:
            tf.cond(gap > 0, lambda: tf.py_function(record, [missing], tf.int64), lambda: tf.constant(0, tf.int64))
        else:
            tf.debugging.Assert(gap <= 0, [BAD_IMAGE_MARK, missing[-1:]], summarize=1)
        return (position + 1, name), (position, image, label)

    ds = ds.scan((tf.constant(0, tf.int64), tf.constant("")), check)
    if finite:
        ds = ds.filter(lambda position, image, label: position >= 0)
    return ds.map(lambda position, image, label: (image, label))


class StreamPart:
    """One part of a streamed dataset: named elements decoded on the fly to ``size`` x ``channels``.

    Subclasses give ``_records(shuffle_seed, shard, repeat, skip)``: a ``tf.data.Dataset`` of
    ``(name, encoded bytes, label)``; the rest (decode, guard, batch, preprocess) is shared.
    """

    streaming = True

    def __init__(self, labels, *, size, channels, bad: BadImages):
        self._labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.size = tuple(int(d) for d in size)
        self.channels = int(channels)
        self.bad = bad

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    def __len__(self) -> int:
        return len(self.labels)

    def sample_part(self, count: int, seed: int = 0) -> StreamPart:
        """A seeded choice of ``count`` elements (all when there are fewer)."""
        n = len(self)
        return self.subset(np.sort(np.random.default_rng(seed).permutation(n)[: min(n, int(count))]))

    def _load(self, payload):
        """The encoded bytes of an element (a FilePart reads its file here, inside the guard)."""
        return payload

    def _decode(self, payload):
        return decode_resized(self._load(payload), self.size, self.channels)[0]

    def elements(self, *, shuffle_seed=None, shard=None, repeat=False, skip=0):
        """``(float32 [H, W, C] image in 0..255, int64 label)`` elements, in order unless ``shuffle_seed``."""
        records = self._records(shuffle_seed=shuffle_seed, shard=shard, repeat=repeat, skip=skip)
        shape = (*self.size, self.channels)
        return _guard(records, self._decode, shape, self.bad, finite=not repeat)

    def dataset(self, spec, *, batch_size, training=False, seed=0, augment=None, shard=None, repeat=False, skip=0):
        """Batches of ``(preprocessed images, labels)``: the pipeline fit and evaluate consume."""
        import tensorflow as tf

        from kerascnn.data.augmentation import augment_batches
        from kerascnn.data.spec import preprocess

        autotune = tf.data.AUTOTUNE
        ds = self.elements(shuffle_seed=seed if training else None, shard=shard, repeat=repeat, skip=skip)
        ds = ds.batch(int(batch_size)).map(lambda x, y: (preprocess(x, spec), y), num_parallel_calls=autotune)
        if not repeat and not shard and not self.bad.skip:
            # tf.data cannot count through the guard; Keras needs the count to stop multi-step loops cleanly
            ds = ds.apply(tf.data.experimental.assert_cardinality(-(-len(self) // int(batch_size))))
        if training and augment is not None:
            ds = augment_batches(ds, augment)
        options = tf.data.Options()
        # Each worker reads its own files (sharded above): nothing for tf.distribute to shard. Without a
        # shard (one worker, or evaluation), DATA keeps every worker's batches disjoint.
        policy = tf.data.experimental.AutoShardPolicy
        options.experimental_distribute.auto_shard_policy = policy.OFF if shard else policy.DATA
        return ds.with_options(options).prefetch(autotune)

    def images(self, indices) -> np.ndarray:
        """uint8 ``[n, H, W, C]`` of the elements at ``indices`` (for plots, calibration, parity)."""
        indices = np.asarray(indices, dtype=np.int64)
        if not len(indices):
            return np.zeros((0, *self.size, self.channels), np.uint8)
        picked = self.subset(indices)
        with reporting_bad_images():  # uint8 batch by batch: float32 copies of a whole set would be 4x its size
            out = [
                np.round(x).clip(0, 255).astype(np.uint8) for x, _ in picked.elements().batch(256).as_numpy_iterator()
            ]
        if not out:
            return np.zeros((0, *self.size, self.channels), np.uint8)
        return np.concatenate(out)


class FilePart(StreamPart):
    """Image files and their labels: the files' names as one bytes array (a million paths, tens of
    megabytes), each the path relative to ``prefix`` (a folder and its separator; ``b""``: whole paths)."""

    def __init__(self, names, labels, *, size, channels, bad: BadImages, prefix=b""):
        super().__init__(labels, size=size, channels=channels, bad=bad)
        names = np.asarray(names)
        if names.dtype.kind != "S":
            names = np.array([os.fsencode(str(n)) for n in names], dtype="S")
        self.names = names
        self.prefix = os.fsencode(prefix)

    @property
    def paths(self) -> np.ndarray:
        """The files' paths (``str``); for the small parts the checks and plots look at."""
        return np.array([os.fsdecode(self.prefix + n) for n in self.names.tolist()], dtype=object)

    def subset(self, indices) -> FilePart:
        indices = np.asarray(indices, dtype=np.int64)
        return FilePart(
            self.names[indices],
            self.labels[indices],
            size=self.size,
            channels=self.channels,
            bad=self.bad,
            prefix=self.prefix,
        )

    def _records(self, *, shuffle_seed, shard, repeat, skip):
        import tensorflow as tf

        # The names as one bytes blob of fixed-width rows plus their lengths: a string tensor of a million names
        # would hold a separately allocated string per name (three times the bytes).
        width = max(int(self.names.dtype.itemsize), 1)
        blob = tf.constant(self.names.tobytes() or b" ")
        lengths = tf.constant(np.char.str_len(self.names).astype(np.int64))
        labels = tf.constant(self.labels)
        positions = tf.range(len(self.names), dtype=tf.int64)
        if shard:
            positions = positions[shard[1] :: shard[0]]
        count = int(positions.shape[0])
        if shuffle_seed is not None and count > 1:
            # A new permutation of the names every pass (a stateless one per pass: no shuffle buffer, which
            # would hold a tensor per name), drawn from a seeded stream: the same seed gives the same passes.
            def one_pass(pass_seed):
                key = tf.stack([tf.constant(int(shuffle_seed), tf.int64), pass_seed])
                return tf.data.Dataset.range(count).map(
                    lambda i: tf.gather(positions, tf.random.experimental.index_shuffle(i, key, count - 1))
                )

            passes = tf.data.Dataset.random(seed=int(shuffle_seed), rerandomize_each_iteration=True)
            ds = (passes if repeat else passes.take(1)).flat_map(one_pass)
        else:
            ds = tf.data.Dataset.from_tensor_slices(positions)
            if repeat:
                ds = ds.repeat()
        if skip:
            ds = ds.skip(int(skip))  # resuming: the names already trained on, never decoded
        prefix = tf.constant(self.prefix)

        def record(i):
            path = prefix + tf.strings.substr(blob, i * width, tf.gather(lengths, i))
            return path, path, tf.gather(labels, i)

        # The file is read where it is decoded (_load), inside the guard: a file deleted, replaced or looped
        # while training fails at its own position and is named, never its neighbour.
        return ds.map(record)

    def _load(self, payload):
        import tensorflow as tf

        return tf.io.read_file(payload)


class TFDSPart(StreamPart):
    """A (sub)split of a prepared TFDS dataset, read from its TFRecord shards."""

    def __init__(
        self, builder, split: str, *, image_key, label_key, num_examples, size, channels, bad: BadImages, labels=None
    ):
        super().__init__(labels, size=size, channels=channels, bad=bad)
        self.builder, self.split = builder, split
        self.image_key, self.label_key = image_key, label_key
        self.num_examples = int(num_examples)

    def __len__(self) -> int:
        return self.num_examples

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:  # read the labels only: the images stay encoded
            ds = self._tfds_dataset(shuffle_seed=None, shard=None)
            self._labels = np.fromiter((int(y) for _, _, y in ds.as_numpy_iterator()), np.int64)
        return self._labels

    def subset(self, indices) -> StreamPart:
        # Small subsets (plots, parity): read the wanted records once, keep them encoded in memory.
        wanted = set(int(i) for i in indices)
        names, payloads, labels = [], [], []
        for i, (n, p, y) in enumerate(self._tfds_dataset(shuffle_seed=None, shard=None).as_numpy_iterator()):
            if i in wanted:
                names.append(n), payloads.append(p), labels.append(y)
        order = {i: k for k, i in enumerate(sorted(wanted))}
        picked = [order[int(i)] for i in indices]
        return _EncodedPart(
            np.array(names, object)[picked],
            [payloads[k] for k in picked],
            np.array(labels, np.int64)[picked],
            size=self.size,
            channels=self.channels,
            bad=self.bad,
        )

    def sample_part(self, count: int, seed: int = 0) -> StreamPart:
        # Reading a seeded choice would read every record; the first records of a seeded file order
        # (shuffled within a buffer) are as good a sample and read a few files only.
        ds = self._tfds_dataset(shuffle_seed=seed, shard=None).shuffle(4096, seed=seed).take(int(count))
        names, payloads, labels = [], [], []
        for n, p, y in ds.as_numpy_iterator():
            names.append(n), payloads.append(p), labels.append(y)
        return _EncodedPart(
            np.array(names, object),
            payloads,
            np.array(labels, np.int64),
            size=self.size,
            channels=self.channels,
            bad=self.bad,
        )

    def _tfds_dataset(self, *, shuffle_seed, shard):
        import tensorflow as tf
        import tensorflow_datasets as tfds

        read = dict(add_tfds_id=True, shuffle_seed=shuffle_seed)
        if shard and self._num_files() >= shard[0]:
            read["input_context"] = tf.distribute.InputContext(num_input_pipelines=shard[0], input_pipeline_id=shard[1])
        ds = self.builder.as_dataset(
            split=self.split,
            shuffle_files=shuffle_seed is not None,
            read_config=tfds.ReadConfig(**read),
            decoders={self.image_key: tfds.decode.SkipDecoding()},
        )
        if shard and "input_context" not in read:
            ds = ds.shard(*shard)  # fewer files than workers: every worker reads all, keeps its share
        key, label = self.image_key, self.label_key
        if "path" in self.builder.info.features:  # `data prepare` keeps each source file's path: name that

            def name(ex):
                return tf.strings.join([ex["path"], STORED_SUFFIX])
        else:

            def name(ex):
                return ex["tfds_id"]

        return ds.map(lambda ex: (name(ex), ex[key], tf.cast(ex[label], tf.int64)))

    def _num_files(self) -> int:
        split = self.split.split("[")[0]
        try:
            return len(self.builder.info.splits[split].filenames)
        except Exception:
            return 1

    def _records(self, *, shuffle_seed, shard, repeat, skip):
        ds = self._tfds_dataset(shuffle_seed=shuffle_seed, shard=shard)
        if shuffle_seed is not None:  # files are shuffled by TFDS; mix examples across them too
            ds = ds.shuffle(1024, seed=shuffle_seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        if skip:
            ds = ds.skip(int(skip))
        return ds


class _EncodedPart(StreamPart):
    """A few encoded images held in memory (a subset of a TFDS part)."""

    def __init__(self, names, payloads, labels, *, size, channels, bad):
        super().__init__(labels, size=size, channels=channels, bad=bad)
        self.names, self.payloads = names, payloads

    def subset(self, indices):
        return _EncodedPart(
            self.names[indices],
            [self.payloads[i] for i in indices],
            self.labels[indices],
            size=self.size,
            channels=self.channels,
            bad=self.bad,
        )

    def _records(self, *, shuffle_seed, shard, repeat, skip):
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(
            (self.names.astype(str), np.array(self.payloads, dtype=object), self.labels)
        )


# ---------------------------------------------------------------------------------------------- folders


def sample_images(part: StreamPart, count: int, seed: int = 0):
    """A seeded sample of ``part``: (uint8 ``[n, H, W, 3]`` images, native channel counts ``[n]``)."""
    import tensorflow as tf

    picked = part.sample_part(count, seed)
    size = part.size

    def decode_with_channels(payload):
        image, native = decode_resized(picked._load(payload), size, 3)
        return tf.concat([image, tf.fill([*size, 1], tf.cast(native, tf.float32))], -1)

    records = picked._records(shuffle_seed=None, shard=None, repeat=False, skip=0)
    ds = _guard(records, decode_with_channels, (*size, 4), part.bad, finite=True)
    with reporting_bad_images():
        batches = [x for x, _ in ds.batch(256).as_numpy_iterator()]
    if not batches:
        raise DataError("No image of the sample could be decoded.")
    x = np.concatenate(batches)
    return np.round(x[..., :3]).clip(0, 255).astype(np.uint8), x[:, 0, 0, 3].astype(np.int64)


class reporting_bad_images:
    """Turn a bad-image guard failure into a one-line :class:`BadImageError` (context manager)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None:
            return False
        import tensorflow as tf

        if isinstance(error, tf.errors.OpError):
            message = bad_image_message(str(error))
            if message:
                raise BadImageError(message) from None
        return False
