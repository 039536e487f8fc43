# pysectrace — top-level build.  `make` builds everything into $(BUILD);
# `make test` runs every test; `make help` lists the targets.
BUILD ?= build
ARCH ?= $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VMLINUX_ARCH ?= $(shell uname -m)
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool || echo /usr/sbin/bpftool)
PYCONFIG ?= /usr/bin/python3-config
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wno-unused-parameter
USER_CFLAGS := $(CFLAGS) $(SAN_CFLAGS) $(WARN) -std=gnu11 -D_FORTIFY_SOURCE=2 -I$(BUILD) -Ibpf -Iuserspace \
	-DPYSECTRACE_VERSION=\"$(VERSION)\"
USER_LIBS := -lbpf -lelf -lz -ljson-c -lmicrohttpd -lm -lyaml -lzstd -lcrypto
HOOK_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -fPIC -fvisibility=hidden -Ihookmod
HOOK_SRCS := hookmod/hook.c hookmod/serialize.c hookmod/pyapi.c hookmod/correlate.c \
	hookmod/rulematch.c hookmod/control.c
HOOK_HDRS := $(wildcard hookmod/*.h)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(VMLINUX_ARCH) -Ibpf \
	-I/usr/include/$(shell uname -m)-linux-gnu -Wall

USER_SRCS := $(wildcard userspace/*.c)
USER_OBJS := $(patsubst userspace/%.c,$(BUILD)/obj/%.o,$(USER_SRCS))
# pure-C hook files the CLI shares: the policy matcher, the event → syscall table
USER_OBJS += $(BUILD)/obj/rulematch.o $(BUILD)/obj/correlate.o
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all deps clean install vmlinux test unit e2e corpus corpus-quick bench-hook format lint help demo
all: deps $(BUILD)/pysectrace $(BUILD)/libpysechook.so $(BUILD)/pysechook.abi3.so

help:
	@echo "make [all]      build into $(BUILD)/ (installs missing Debian packages)"
	@echo "make demo       run tools/demo.py under pysectrace run (root)"
	@echo "make test       unit + end-to-end tests (root, real BPF) + quick corpus + fuzz + check-asan"
	@echo "make unit       unit tests only"
	@echo "make e2e        end-to-end tests only"
	@echo "make corpus     CPython's own test suites under the tracer (slow)"
	@echo "make bench-hook hook cost ratios (see BENCHMARKS.md)"
	@echo "make bench      W0-W5 vs peers, build/bench.json (BENCH_ARGS=--quick)"
	@echo "make fuzz       libFuzzer targets, FUZZ_SECONDS each (tests/fuzz/README.md)"
	@echo "make fuzz-long  the same for FUZZ_LONG_SECONDS each"
	@echo "make check-asan tracer + unit tests + short e2e under ASan/UBSan/LSan"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR="
	@echo "make vmlinux    regenerate vmlinux/$(VMLINUX_ARCH)/vmlinux.h from this kernel"
	@echo "make format | lint"

deps:
	@tools/install-deps.sh --check >/dev/null 2>&1 || tools/install-deps.sh

$(BUILD) $(BUILD)/obj $(BUILD)/tests:
	@mkdir -p $@

# ---- BPF object and skeleton
$(BUILD)/pysectrace.bpf.o: bpf/pysectrace.bpf.c bpf/stock.bpf.h bpf/pysectrace.h hookmod/pysechook_abi.h | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	llvm-strip -g $@.tmp 2>/dev/null || true
	mv $@.tmp $@

$(BUILD)/pysectrace.skel.h: $(BUILD)/pysectrace.bpf.o
	$(BPFTOOL) gen skeleton $< name pysectrace_bpf > $@.tmp && mv $@.tmp $@

# ---- CLI
$(BUILD)/obj/%.o: userspace/%.c $(wildcard userspace/*.h) bpf/pysectrace.h hookmod/pysechook_abi.h $(BUILD)/pysectrace.skel.h | $(BUILD)/obj
	$(CC) $(USER_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: hookmod/%.c $(HOOK_HDRS) | $(BUILD)/obj
	$(CC) $(USER_CFLAGS) -Ihookmod -c $< -o $@

# the report page, embedded as a C string (userspace/report.html)
$(BUILD)/report_html.h: userspace/report.html | $(BUILD)
	{ echo 'static const char report_html[] ='; \
	  sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$$/\\n"/' $<; echo ';'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/report.o: $(BUILD)/report_html.h

$(BUILD)/pysectrace: $(USER_OBJS)
	$(CC) $(USER_CFLAGS) $^ -o $@ $(USER_LIBS)

# ---- hook: preload library (no libpython dependency) and extension module
$(BUILD)/libpysechook.so: $(HOOK_SRCS) hookmod/preload.c $(HOOK_HDRS) | $(BUILD)
	$(CC) $(HOOK_CFLAGS) -shared -Wl,--no-undefined -Wl,-z,now -o $@ \
		$(HOOK_SRCS) hookmod/preload.c -lm

$(BUILD)/pysechook.abi3.so: $(HOOK_SRCS) hookmod/module.c $(HOOK_HDRS) | $(BUILD)
	$(CC) $(HOOK_CFLAGS) $(shell $(PYCONFIG) --includes) -shared -o $@ \
		$(HOOK_SRCS) hookmod/module.c -lm

# ---- tests
$(BUILD)/tests/test_argdecode: tests/unit/test_argdecode.c userspace/argdecode.c tests/unit/unit_util.h | $(BUILD)/tests
	$(CC) $(USER_CFLAGS) $(filter %.c,$^) -o $@ -lcmocka -ljson-c -lm

$(BUILD)/tests/test_serialize: tests/unit/test_serialize.c $(HOOK_SRCS) userspace/argdecode.c tests/unit/unit_util.h | $(BUILD)/tests
	$(CC) $(USER_CFLAGS) -Ihookmod $(shell $(PYCONFIG) --includes) $(filter %.c,$^) -o $@ \
		$(shell $(PYCONFIG) --embed --ldflags) -lcmocka -ljson-c -lm -ldl

$(BUILD)/tests/test_%: tests/unit/test_%.c $(filter-out $(BUILD)/obj/main.o,$(USER_OBJS)) | $(BUILD)/tests
	$(CC) $(USER_CFLAGS) $^ -o $@ -lcmocka $(USER_LIBS) -lm

unit: all $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

e2e: all
	/usr/bin/python3 tests/e2e/run_e2e.py --build $(BUILD)

# a quick corpus: five of CPython's own suites per Python, must stay green
CORPUS_QUICK := test_tempfile,test_glob,test_json,test_shutil,test_zipfile
corpus-quick: all
	/usr/bin/python3 tests/corpus/run_corpus.py --build $(BUILD) --tests $(CORPUS_QUICK)

test: unit e2e corpus-quick fuzz check-asan

# CPython's own test suites under the tracer (tests/corpus/README.md)
corpus: all
	/usr/bin/python3 tests/corpus/run_corpus.py --build $(BUILD)

bench-hook: all
	/usr/bin/python3 tools/bench_hook.py --build $(BUILD)

# W0-W5 under every configuration and the peers (BENCHMARKS.md); BENCH_ARGS=--quick
.PHONY: bench
bench: all
	@tools/install-deps.sh --bench --check >/dev/null 2>&1 || tools/install-deps.sh --bench
	/usr/bin/python3 tools/bench.py --build $(BUILD) $(BENCH_ARGS)

# ---- misc
vmlinux:
	@mkdir -p vmlinux/$(VMLINUX_ARCH)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(VMLINUX_ARCH)/vmlinux.h

install: all
	install -D -m 0755 $(BUILD)/pysectrace $(DESTDIR)$(PREFIX)/bin/pysectrace
	install -D -m 0644 $(BUILD)/libpysechook.so $(DESTDIR)$(PREFIX)/lib/pysectrace/libpysechook.so
	install -D -m 0644 $(BUILD)/pysechook.abi3.so $(DESTDIR)$(PREFIX)/lib/pysectrace/pysechook.abi3.so
	install -D -m 0644 docs/pysectrace.1 $(DESTDIR)$(PREFIX)/share/man/man1/pysectrace.1
	install -D -m 0644 tools/pysectrace-hook.env $(DESTDIR)$(PREFIX)/lib/pysectrace/pysectrace-hook.env
	install -D -m 0644 tools/pysectrace-monitor.service \
		$(DESTDIR)$(PREFIX)/lib/systemd/system/pysectrace-monitor.service

format:
	clang-format -i bpf/*.c bpf/*.h userspace/*.c userspace/*.h hookmod/*.c hookmod/*.h tests/unit/*.c

lint: $(BUILD)/pysectrace.skel.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		-I bpf -I userspace -I hookmod userspace hookmod

clean:
	rm -rf $(BUILD)

demo: all
	$(BUILD)/pysectrace run -- /usr/bin/python3 tools/demo.py

# ---- fuzzing (tests/fuzz/README.md).  A target is tests/fuzz/fuzz_NAME.c plus
# one line FUZZ_SRCS_NAME := (the sources it tests); FUZZ_LIBS_NAME is optional.
FUZZ_SRCS_argdecode := userspace/argdecode.c
FUZZ_SRCS_stockargs := userspace/stockprobe.c
FUZZ_LIBS_stockargs := -lelf
FUZZ_SRCS_policy := userspace/policy.c userspace/policy_ctl.c hookmod/rulematch.c
FUZZ_LIBS_policy := -ljson-c -lyaml
FUZZ_SRCS_capture := userspace/capture.c userspace/replay.c userspace/pipeline.c \
	userspace/classify.c userspace/baseline.c userspace/emit.c userspace/argdecode.c \
	userspace/eventtab.c userspace/procinfo.c userspace/cli.c userspace/seqgap.c \
	userspace/elfinfo.c hookmod/rulematch.c userspace/policy.c userspace/policy_ctl.c \
	userspace/enforce.c
FUZZ_LIBS_capture := -ljson-c -lzstd -lcrypto -lbpf -lelf -lz -lm -lyaml

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_LONG_SECONDS ?= 3600
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_NAMES))
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -std=gnu11 -I$(BUILD) -Ibpf -Iuserspace -Ihookmod \
	-DPYSECTRACE_VERSION=\"$(VERSION)\"

.PHONY: fuzz fuzz-long fuzz-build fuzz-seeds
.SECONDEXPANSION:
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRCS_$$*) $(wildcard userspace/*.h) \
		$(BUILD)/pysectrace.skel.h
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_SRCS_$*) -o $@ $(or $(FUZZ_LIBS_$*),-ljson-c -lm)

fuzz-build: $(FUZZ_BINS)

# each target for FUZZ_SECONDS over its committed seeds; new inputs and crash
# files go to $(FUZZ_BUILD), never into the repo; a crash fails the target
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_NAMES); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes/$$t tests/fuzz/corpus/$$t; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/crashes/$$t/ \
			$(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t 2>$(FUZZ_BUILD)/fuzz_$$t.log || \
			{ tail -40 $(FUZZ_BUILD)/fuzz_$$t.log; \
			  echo "fuzz_$$t FAILED: reproducer in $(FUZZ_BUILD)/crashes/$$t/"; exit 1; }; \
		grep -E '^stat::(number_of_executed_units|new_units_added)' $(FUZZ_BUILD)/fuzz_$$t.log; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)

# build one target (the stock decoder's); make fuzz runs it with the others
.PHONY: fuzz-stockargs
fuzz-stockargs: $(FUZZ_BUILD)/fuzz_stockargs

# regenerate the argdecode seeds from the hook's own serializer
$(FUZZ_BUILD)/seedgen_argdecode: tests/fuzz/seedgen_argdecode.c $(HOOK_SRCS) $(HOOK_HDRS)
	@mkdir -p $(FUZZ_BUILD)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Ihookmod $(shell $(PYCONFIG) --includes) \
		$< $(HOOK_SRCS) -o $@ $(shell $(PYCONFIG) --embed --ldflags) -lm -ldl

fuzz-seeds: $(FUZZ_BUILD)/seedgen_argdecode
	rm -rf tests/fuzz/corpus/argdecode && mkdir -p tests/fuzz/corpus/argdecode
	$(FUZZ_BUILD)/seedgen_argdecode tests/fuzz/seeds_argdecode.py tests/fuzz/corpus/argdecode

# ---- the tracer and the unit tests under ASan+UBSan (LeakSanitizer on), in
# their own build dir; the hook stays unsanitized (it lives inside Python)
ASAN_BUILD := $(BUILD)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0:log_path=$(abspath $(ASAN_BUILD))/logs/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(abspath $(ASAN_BUILD))/logs/ubsan \
	LSAN_OPTIONS=suppressions=$(abspath tests/asan/lsan.supp):print_suppressions=0
ASAN_E2E ?= --module test_run.py --module test_bypass.py --max-pythons 2

.PHONY: check-asan
check-asan:
	@rm -rf $(ASAN_BUILD)/logs && mkdir -p $(ASAN_BUILD)/logs
	$(ASAN_ENV) $(MAKE) BUILD=$(ASAN_BUILD) CFLAGS="-O1 -g" SAN_CFLAGS="$(ASAN_FLAGS)" unit
	$(ASAN_ENV) /usr/bin/python3 tests/e2e/run_e2e.py -q --build $(ASAN_BUILD) $(ASAN_E2E)
	@if grep -lE 'ERROR: |runtime error' $(ASAN_BUILD)/logs/* >/dev/null 2>&1; then \
		head -60 $$(grep -lE 'ERROR: |runtime error' $(ASAN_BUILD)/logs/*); \
		echo "check-asan: FAILED: sanitizer reports in $(ASAN_BUILD)/logs/"; exit 1; fi
	@echo "check-asan: clean"
