# Mamba training-program generator: every entry point.
#   make run     install what is missing, build gen, generate (configs/tiny.yaml
#                unless a variant was generated already), build and run it
#   make test    install what is missing, run every CPU test (Check)
#   make build   build the last generated variant only
#   make install install gen (PREFIX=/usr/local)
#   make deps    install the Debian packages the project needs
#   make clean   remove build/
# Variables: SPEC=configs/x.yaml (generate this spec first), ARGS="..." (run flags)

PREFIX   ?= /usr/local
CC       ?= cc
BUILD    := build
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Wno-unused-parameter
BASEFLAGS := -std=c11 -D_GNU_SOURCE -fopenmp $(WARN) -Iruntime -Igen
LDLIBS   := -lyaml -ljansson -lcurl -lcrypto -lsnappy -lzstd -lz -lpcre2-8 -lutf8proc -lm -lpthread
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -lpthread)

DEB_PKGS := build-essential pkg-config libyaml-dev check libjansson-dev libcurl4-openssl-dev \
            libssl-dev libsnappy-dev libzstd-dev zlib1g-dev libpcre2-dev libutf8proc-dev

GEN_SRCS := $(filter-out gen/main.c,$(wildcard gen/*.c))
GEN_OBJS := $(GEN_SRCS:%.c=$(BUILD)/obj/%.o)
RT_SRCS  := $(wildcard runtime/*.c)
RT_OBJS  := $(RT_SRCS:%.c=$(BUILD)/obj/%.o)
RT_LIB   := $(BUILD)/lib/libmambart.a
TOOL_SRCS := $(wildcard runtime/tools/*.c)
TOOLS    := $(TOOL_SRCS:runtime/tools/%.c=$(BUILD)/bin/%)
TEST_SRCS := $(sort $(wildcard tests/check_*.c))
TESTS    := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
GEN      := $(BUILD)/bin/gen

# The variant to build/run: SPEC if given, else the last one gen wrote, else tiny.
LAST_VARIANT := $(shell cat $(BUILD)/.last-variant 2>/dev/null)
DEFAULT_SPEC := configs/tiny.yaml

.PHONY: all run build test golden test-gpu bench audit sweep install deps clean gen tools data
# generated sources are kept (not intermediate files make may delete)
.SECONDARY:
all: $(GEN) $(RT_LIB) $(TOOLS)
gen: $(GEN)
tools: $(TOOLS)

$(BUILD)/obj/%.o: %.c | deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASEFLAGS) -MMD -MP -c $< -o $@

$(RT_LIB): $(RT_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(GEN): $(BUILD)/obj/gen/main.o $(GEN_OBJS) $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASEFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/obj/runtime/tools/%.o $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASEFLAGS) -o $@ $^ $(LDLIBS)

# datacat reads a spec: it links the generator's spec reader too
$(BUILD)/bin/datacat: $(BUILD)/obj/runtime/tools/datacat.o $(GEN_OBJS) $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASEFLAGS) -o $@ $^ $(LDLIBS)

# The synthetic corpus of the embedded default (made by a program in the repo).
SYNTH := $(BUILD)/data/synth
data: $(SYNTH)/train.txt $(SYNTH)/instruct/train.jsonl
$(SYNTH)/train.txt: $(BUILD)/bin/synthcorpus
	@mkdir -p $(SYNTH)
	$(BUILD)/bin/synthcorpus --out $(SYNTH) --seed 1
# the instruction set of the fine-tuning story: the same invented world, Alpaca rows
$(SYNTH)/instruct/train.jsonl: $(BUILD)/bin/synthinstruct
	@mkdir -p $(SYNTH)/instruct
	$(BUILD)/bin/synthinstruct --out $(SYNTH)/instruct --seed 1

# ---- variants ------------------------------------------------------------
run: all data
	@set -e; \
	if [ -n "$(SPEC)" ]; then $(GEN) $(SPEC); \
	elif [ ! -f $(BUILD)/.last-variant ]; then $(GEN) $(DEFAULT_SPEC); fi; \
	v=$$(cat $(BUILD)/.last-variant); \
	$(MAKE) --no-print-directory -f $(BUILD)/$$v/Makefile.inc VARIANT_DIR=$(BUILD)/$$v; \
	echo "running $(BUILD)/$$v/train $(ARGS)"; \
	$(BUILD)/$$v/train $(ARGS)

build: all
	@set -e; \
	if [ -n "$(SPEC)" ]; then $(GEN) $(SPEC); fi; \
	v=$$(cat $(BUILD)/.last-variant 2>/dev/null) || { echo "no variant generated yet: run gen SPEC first" >&2; exit 1; }; \
	$(MAKE) --no-print-directory -f $(BUILD)/$$v/Makefile.inc VARIANT_DIR=$(BUILD)/$$v

# ---- tests ---------------------------------------------------------------
$(BUILD)/tests/%: tests/%.c $(GEN_OBJS) $(RT_LIB) | deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASEFLAGS) -Itests -MMD -MP -o $@ $< $(GEN_OBJS) $(RT_LIB) $(CHECK_LIBS) $(LDLIBS)

# Variants the numerical tests drive (tests/specs/variants/*.yaml), built twice:
# fp32 as training runs, and fp64 for the finite-difference check. -Werror:
# emitted code must compile cleanly.
TEST_VARIANTS := $(patsubst tests/specs/variants/%.yaml,%,$(wildcard tests/specs/variants/*.yaml))
HARNESSES := $(foreach v,$(TEST_VARIANTS),$(BUILD)/tests/harness_$(v)_f32 $(BUILD)/tests/harness_$(v)_f64)
TEMPLATE_HDRS := $(wildcard templates/cpu/*.h)

$(BUILD)/test-variants/%/model.c: tests/specs/variants/%.yaml $(GEN) templates/cpu/model.c templates/program.c
	$(GEN) -q -o $(BUILD)/test-variants $<

$(BUILD)/tests/harness_%_f32: tests/harness/model_harness.c $(BUILD)/test-variants/%/model.c $(TEMPLATE_HDRS) templates/checkpoint.h $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g $(BASEFLAGS) -Werror -I$(BUILD)/test-variants/$* -Itemplates -Itemplates/cpu -o $@ $< $(BUILD)/test-variants/$*/model.c $(RT_LIB) $(LDLIBS)

$(BUILD)/tests/harness_%_f64: tests/harness/model_harness.c $(BUILD)/test-variants/%/model.c $(TEMPLATE_HDRS) templates/checkpoint.h $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g $(BASEFLAGS) -Werror -DREAL=double -I$(BUILD)/test-variants/$* -Itemplates -Itemplates/cpu -o $@ $< $(BUILD)/test-variants/$*/model.c $(RT_LIB) $(LDLIBS)

$(BUILD)/test-variants/%/train: $(BUILD)/test-variants/%/model.c $(TEMPLATE_HDRS) $(RT_LIB)
	$(MAKE) --no-print-directory -f $(BUILD)/test-variants/$*/Makefile.inc VARIANT_DIR=$(BUILD)/test-variants/$* GEN_HOME=.

test: all data $(TESTS) $(HARNESSES) $(BUILD)/test-variants/trainsmall/train
	@sh tests/setup_npm.sh
	@set -e; fail=0; total=0; rm -f $(BUILD)/tests/summary.txt; \
	for t in $(TESTS); do \
	  echo "== $$t"; \
	  if ! CK_FORK=yes $$t > $(BUILD)/tests/last.log 2>&1; then fail=$$((fail+1)); fi; \
	  cat $(BUILD)/tests/last.log; grep -E '^[0-9]+%: Checks: ' $(BUILD)/tests/last.log >> $(BUILD)/tests/summary.txt || true; \
	  total=$$((total+1)); \
	done; \
	echo "test programs: $$total, failed: $$fail"; \
	awk -F'[:,] *' '{ c += $$3; f += $$5 + $$7 } END { printf "checks: %d passed, %d failed\n", c - f, f }' $(BUILD)/tests/summary.txt; \
	[ $$fail -eq 0 ]

# Regenerate the golden emitted sources after an intended change of the
# emitter or templates (then review the diff before committing it).
golden: $(GEN)
	@for v in $(GOLDEN_SPECS); do \
	  rm -rf tests/golden/$$v && $(GEN) -q -o tests/golden tests/specs/variants/$$v.yaml && rm -f tests/golden/.last-variant; \
	  echo "tests/golden/$$v/ rewritten"; done
GOLDEN_SPECS := fixture gradcheck

# ---- GPU (on an H200) ---------------------------------------------------------
# make test-gpu: kernels, whole step and 50-step curves, CUDA against CPU.
test-gpu: all data
	bash tests/gpu/run.sh

# make bench [SPEC=configs/130m.yaml] [BENCH_ARGS="--steps 20"]: the fixed-shape
# step of the spec with one micro-batch per optimizer step (as the reference
# anchors were measured), on synthetic tokens.
BENCH_SPEC = $(or $(SPEC),configs/130m.yaml)
bench: all
	@set -e; name=$$(sed -n 's/^name: *//p' $(BENCH_SPEC)); \
	mkdir -p $(BUILD)/bench; \
	sed -e "s/^name: .*/name: $$name-bench/" -e 's/^\(  *grad_accum:\).*/\1 1/' $(BENCH_SPEC) > $(BUILD)/bench/$$name-bench.yaml; \
	t0=$$(date +%s.%N); $(GEN) -q -o $(BUILD)/bench $(BUILD)/bench/$$name-bench.yaml; \
	$(MAKE) --no-print-directory -f $(BUILD)/bench/$$name-bench/Makefile.inc VARIANT_DIR=$(BUILD)/bench/$$name-bench $(BUILD)/bench/$$name-bench/bench; \
	echo "gen + build: $$(awk "BEGIN { printf \"%.1f\", $$(date +%s.%N) - $$t0 }") s"; \
	$(BUILD)/bench/$$name-bench/bench $(BENCH_ARGS)

# make audit [SPEC=configs/x.yaml]: per op of the emitted step its calls,
# FLOPs, bytes and arithmetic intensity; for a CUDA variant also each
# kernel's registers, shared memory and spills (nvcc -Xptxas -v).
AUDIT_SPEC = $(or $(SPEC),$(DEFAULT_SPEC))
audit: all
	@set -e; $(GEN) -q -o $(BUILD)/audit $(AUDIT_SPEC); name=$$(sed -n 's/^name: *//p' $(AUDIT_SPEC)); \
	d=$(BUILD)/audit/$$name; \
	if [ -f $$d/model.cu ]; then \
	  $${NVCC:-/usr/local/cuda/bin/nvcc} -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Xptxas -v -I$$d -Itemplates/cuda \
	    -Itemplates/cpu -Xcompiler -fopenmp -c $$d/model.cu -o $$d/model.o > $$d/ptxas.log 2>&1; \
	  $(BUILD)/bin/audit $$d --ptxas-log $$d/ptxas.log; \
	else $(BUILD)/bin/audit $$d; fi

# make sweep: every CUDA config in configs/: gen + build + bench, one line each
sweep: all
	@for s in configs/*.yaml; do grep -q '^backend: cuda' $$s && grep -q '^  phase: pretrain' $$s || continue; \
	  echo "== $$s"; $(MAKE) --no-print-directory bench SPEC=$$s BENCH_ARGS="--steps 10" 2>&1 | grep -E "gen \+ build|tokens/s|GPU memory"; done

# ---- install / deps / clean ----------------------------------------------
# gen finds its templates next to itself: PREFIX/share/mamba-gen holds the
# templates, the runtime headers and library that emitted variants build against.
SHARE := $(DESTDIR)$(PREFIX)/share/mamba-gen
install: $(GEN) $(RT_LIB)
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/templates/cpu $(SHARE)/templates/cuda $(SHARE)/runtime $(SHARE)/build/lib
	install -m 755 $(GEN) $(DESTDIR)$(PREFIX)/bin/gen
	install -m 644 templates/*.c templates/*.h $(SHARE)/templates/
	install -m 644 templates/cpu/* $(SHARE)/templates/cpu/
	install -m 644 templates/cuda/* $(SHARE)/templates/cuda/
	install -m 644 runtime/*.h $(SHARE)/runtime/
	install -m 644 $(RT_LIB) $(SHARE)/build/lib/

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

deps-ok:
	@$(MAKE) --no-print-directory deps

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
