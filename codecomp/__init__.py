"""codecomp: local, private neural code completion for C++ and JavaScript."""
import os as _os

# Privacy: recent onnxruntime wheels carry a usage-telemetry client that keeps a database under ~/.cache and
# can send events over the network. codecomp serves locally and never phones home, so it is switched off here,
# before any module imports onnxruntime. (Set ORT_DISABLE_TELEMETRY=0 yourself to override.)
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
