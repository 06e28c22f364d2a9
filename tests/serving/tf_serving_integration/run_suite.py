"""Run TF Serving's ``tensorflow_model_server_test.py`` (unchanged) against ``kerascnn-model-server``.

Usage: ``python run_suite.py TEST_NAME ...`` with ``TEST_SRCDIR`` set to a tree where
``tf_serving/tensorflow_serving/model_servers/tensorflow_model_server`` is the server to test and
``tf_serving/tensorflow_serving/servables/tensorflow/testdata`` TF Serving's test data, as Bazel lays them
out (``test_tf_serving_suite.py`` builds it). The test files import their helper as
``tensorflow_serving.model_servers.test_util``: that folder is added to the installed
``tensorflow_serving`` package (from tensorflow-serving-api) here, then the test module runs as its own
``__main__`` does (``tf.test.main()``, absl flags included).
"""

import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    import tensorflow_serving

    tensorflow_serving.__path__.append(os.path.join(HERE, "tensorflow_serving"))
    test_file = os.path.join(HERE, "tensorflow_serving", "model_servers", "tensorflow_model_server_test.py")
    sys.argv = [test_file, *sys.argv[1:]]
    runpy.run_path(test_file, run_name="__main__")
