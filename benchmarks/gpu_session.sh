#!/usr/bin/env bash
# The CUDA checks and benchmarks of issue 5 on a machine with an NVIDIA GPU, in one go:
#   bash benchmarks/gpu_session.sh OUTDIR [tests|speed|h2h ...]      (default: all three)
# tests: tests/test_cuda.py on the device (NUMBA_ENABLE_CUDASIM=0); speed: benchmarks/cuda_speed.py;
# h2h: benchmarks/head_to_head.py with sadbench's CPU and CUDA backends against JAX (on the GPU) and PyTorch.
# Each stage has its own time limit and writes its log to OUTDIR as it goes, so a stage that runs out of
# time keeps what it finished.
set -u
out=${1:?usage: gpu_session.sh OUTDIR [tests|speed|h2h ...]}
shift
stages=${*:-tests speed h2h}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv | tee "$out/gpu.txt"
$python - <<'PY' | tee -a "$out/gpu.txt"
import os, platform, numpy, numba, numba_cuda
print(f"python {platform.python_version()}, numpy {numpy.__version__}, numba {numba.__version__}, "
      f"numba-cuda {numba_cuda.__version__}, {os.cpu_count()} CPUs")
PY
$python -m pip install -q --no-deps --no-build-isolation --no-index -e . || exit 1
for stage in $stages; do
  case $stage in
    tests)
      NUMBA_ENABLE_CUDASIM=0 timeout ${TESTS_LIMIT:-330} $python -m pytest tests/test_cuda.py -q -p no:cacheprovider \
        --durations=8 2>&1 | tee "$out/test_cuda.log" ;;
    speed)
      timeout ${SPEED_LIMIT:-240} $python benchmarks/cuda_speed.py --sizes ${SIZES:-1,64,1024,16384} \
        --dopri-sizes ${DOPRI_SIZES:-1,1024} --cap ${CAP:-4} --out "$out/cuda_speed.txt" ;;
    h2h)
      (cd benchmarks && timeout ${H2H_LIMIT:-420} $python head_to_head.py --backends cpu cuda --torch-device cuda \
        --peers ${PEERS:-jax torch} --members ${MEMBERS:-1 64 1024} --method ${METHODS:-rk4 dopri5} \
        --activation ${ACTIVATIONS:-gelu tanh} --repeats ${REPEATS:-1} --worker-timeout ${WORKER_LIMIT:-150}) \
        2>&1 | tee "$out/head_to_head.txt" ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
