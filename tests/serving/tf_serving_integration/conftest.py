"""TF Serving's own test files are run by test_tf_serving_suite.py in a process of their own, never collected here."""

collect_ignore = ["tensorflow_serving"]
