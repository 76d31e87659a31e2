#!/usr/bin/env bash
# make test-gpu: the CUDA backend against the CPU backend, on an H200.
#   1. every kernel against the CPU op library (tests/gpu/check_cuda_ops.cu)
#   2. one micro-batch: loss and every parameter's gradient, CUDA vs CPU, same
#      weights and tokens (tests/specs/gpu/gpusmall.yaml and its CPU twin)
#   3. 50 training steps of both on the same data: the loss curves agree
# Usage: tests/gpu/run.sh [--prebuilt]   (--prebuilt: binaries already in build/gpu)
set -u
cd "$(dirname "$0")/../.."
B=build/gpu
pass=0
fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
CUDA_LIBS="-L${CUDA_HOME:-/usr/local/cuda}/lib64 -lcublasLt -lcudart -lstdc++"
CFLAGS_H="-O2 -std=c11 -D_GNU_SOURCE -fopenmp -Iruntime -Itemplates -Itemplates/cpu"
LIBS="build/lib/libmambart.a -lyaml -ljansson -lcurl -lsnappy -lzstd -lz -lpcre2-8 -lutf8proc -lm -lpthread"

if [ "${1:-}" != "--prebuilt" ]; then
    set -e
    mkdir -p $B
    $NVCC -O2 -std=c++17 -gencode arch=compute_90,code=sm_90 -Itemplates/cuda -Itemplates/cpu \
        tests/gpu/check_cuda_ops.cu -o $B/check_cuda_ops
    build/bin/gen -q -o $B tests/specs/gpu/gpusmall.yaml
    sed 's/^name: gpusmall/name: gpusmall-cpu/; s/^backend: cuda/backend: cpu/' tests/specs/gpu/gpusmall.yaml > $B/gpusmall-cpu.yaml
    build/bin/gen -q -o $B $B/gpusmall-cpu.yaml
    # portable x86-64 flags: the binaries may run on another host than the one that built them
    make -s -f $B/gpusmall/Makefile.inc VARIANT_DIR=$B/gpusmall GEN_HOME=. VARIANT_OPT="-O3 -mavx2 -mfma"
    make -s -f $B/gpusmall-cpu/Makefile.inc VARIANT_DIR=$B/gpusmall-cpu GEN_HOME=. VARIANT_OPT="-O3 -mavx2 -mfma"
    cc $CFLAGS_H -I$B/gpusmall tests/harness/model_harness.c $B/gpusmall/model.o -o $B/harness_cuda $LIBS $CUDA_LIBS
    cc $CFLAGS_H -I$B/gpusmall-cpu tests/harness/model_harness.c $B/gpusmall-cpu/model.o -o $B/harness_cpu $LIBS
    set +e
fi

echo "== 1. kernels against the CPU op library"
if $B/check_cuda_ops; then ok "kernels"; else bad "kernels"; fi

echo "== 2. one micro-batch, CUDA vs CPU (loss and every gradient)"
$B/harness_cpu dump $B/dump_cpu.safetensors && $B/harness_cuda dump $B/dump_cuda.safetensors
$B/harness_cpu compare $B/dump_cpu.safetensors $B/dump_cuda.safetensors > $B/compare.txt
cat $B/compare.txt
# bf16 GEMM operands and activations (8-bit mantissa, 2^-8 = 0.4% per rounding)
# against fp32 throughout: the loss agrees to ~1e-3 relative, each gradient
# tensor to a few percent of its largest entry.
if awk '/^RESULT loss /{ if ($3 > 5e-3) bad = 1; n++ } /^RESULT grad\./{ if ($3 > 6e-2) { bad = 1; print "  over tolerance:", $2, $3 } n++ }
        END { exit (bad || n < 23) }' $B/compare.txt; then ok "gradients"; else bad "gradients"; fi

echo "== 3. 50 steps of both on the same data"
for v in gpusmall gpusmall-cpu; do
    rm -rf $B/run-$v
    $B/$v/train --quiet --sample-tokens 0 --checkpoint-dir $B/run-$v/ckpt --log-dir $B/run-$v/logs > $B/run-$v.txt 2>&1 ||
        { bad "training $v"; tail -5 $B/run-$v.txt; }
done
paste <(grep -o '"step":[0-9]*,"loss":[0-9.e+-]*' $B/run-gpusmall-cpu/logs/metrics.jsonl) \
      <(grep -o '"loss":[0-9.e+-]*' $B/run-gpusmall/logs/metrics.jsonl) | sed 's/"step"://; s/"loss"://g; s/,/ /' > $B/curves.txt
awk '{ d = $2 - $3; if (d < 0) d = -d; if (d > mx) mx = d; s += d; n++ } END { printf "steps %d, mean |cpu - cuda| %.4f, max %.4f, first %s vs %s\n", n, s / n, mx, f1, f2 }
     NR == 1 { f1 = $2; f2 = $3 }' $B/curves.txt
tail -3 $B/curves.txt
# bf16 noise on a loss falling from 5.6 to ~2: steps agree within 0.05 on
# average and 0.15 at worst, and both curves fall.
if awk '{ d = $2 - $3; if (d < 0) d = -d; if (d > mx) mx = d; s += d; n++; last2 = $2; last3 = $3; if (NR == 1) { f2 = $2; f3 = $3 } }
        END { exit !(n == 50 && s / n < 0.05 && mx < 0.15 && last2 < f2 - 1 && last3 < f3 - 1) }' $B/curves.txt; then
    ok "loss curves"
else
    bad "loss curves"
fi
echo "== 4. generation: recurrent decoding on the GPU against the full forward"
$B/harness_cuda decode | tee $B/decode.txt
# bf16 GEMM operands on both paths, fp32 states: logits agree to ~1e-2 of their range
if awk '/^RESULT decode /{ n++; if ($3 > 3e-2) bad = 1 } END { exit (bad || n != 1) }' $B/decode.txt; then ok "decode"; else bad "decode"; fi

echo "== 5. resume on CUDA: SIGTERM mid-run, --resume; no step lost or repeated, same curve"
R=$B/run-resume
rm -rf $R
$B/gpusmall/train --quiet --sample-tokens 0 --checkpoint-every 10 --checkpoint-dir $R/ckpt --log-dir $R/logs > $R.txt 2>&1 &
pid=$!
for i in $(seq 1 600); do [ -f $R/ckpt/step-00000020/model.safetensors ] && break; sleep 0.05; done
kill -TERM $pid
wait $pid
echo "first run exited with $? (143 expected: SIGTERM)"
$B/gpusmall/train --quiet --sample-tokens 0 --checkpoint-every 10 --checkpoint-dir $R/ckpt --log-dir $R/logs --resume >> $R.txt 2>&1
grep -o '"step":[0-9]*,"loss":[0-9.e+-]*' $R/logs/metrics.jsonl | sed 's/"step"://; s/"loss"://; s/,/ /' > $B/resume_curve.txt
paste $B/resume_curve.txt <(awk '{print $3}' $B/curves.txt) > $B/resume_vs_full.txt
awk '{ d = $2 - $3; if (d < 0) d = -d; if (d > mx) mx = d } END { printf "steps %d, max |resumed - uninterrupted| %.5f\n", NR, mx }' $B/resume_vs_full.txt
if awk '{ if ($1 != NR) bad = 1; d = $2 - $3; if (d < 0) d = -d; if (d > 0.02) bad = 1 } END { exit (bad || NR != 50) }' $B/resume_vs_full.txt; then
    ok "resume"
else
    bad "resume"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
