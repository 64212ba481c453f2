"""TensorFlow's start-up lines and warnings, hidden from the `tfganaug` command unless `-v`.

Importing TensorFlow 2.21 prints "All log messages before absl::InitializeLog()", oneDNN's and
"Could not find cuda drivers" twice: two of its shared libraries (libtensorflow_framework.so and
_pywrap_profiler_plugin.so) each carry a copy of the code that logs them while they load, before absl
logging is set up, so TF_CPP_MIN_LOG_LEVEL does not reach them. The first device query adds "failed
call to cuInit" on a machine without a GPU. The only way to hide them is to point the process's
stderr elsewhere while they happen; whatever else is written there meanwhile is printed afterwards.
TensorFlow's Python warnings (e.g. "triggered tf.function retracing", expected when every run builds
a new model) are kept below ERROR.
"""

import logging
import os
import re
import sys
import tempfile

STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|^[IWE]\d{4} [\d:.]+ +\d+ (port\.cc|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_dnn\.cc"
    r"|cuda_fft\.cc|cuda_blas\.cc|cpu_feature_guard\.cc|computation_placer\.cc|gpu_device\.cc)"
    r"|^To enable the following instructions: .* rebuild TensorFlow"
    r"|^This TensorFlow binary is optimized to use available CPU instructions")


def quiet_tensorflow():
    """TensorFlow's Python warnings silenced, and `import_tensorflow_quietly` (the `tfganaug` command)."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import_tensorflow_quietly()


def import_tensorflow_quietly():
    """Import TensorFlow and find its devices with the start-up lines above hidden; a no-op when it is
    already imported. Other lines written to stderr meanwhile (warnings, errors) are printed after."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the cuInit line comes with the first device query
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", errors="replace")
    kept = [line for line in text.splitlines() if line.strip() and not STARTUP_NOISE.search(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
