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
USER_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_FORTIFY_SOURCE=2 -I$(BUILD) -Ibpf -Iuserspace \
	-DPYSECTRACE_VERSION=\"$(VERSION)\"
USER_LIBS := -lbpf -lelf -lz -ljson-c -lyaml
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
	@echo "make test       unit + end-to-end tests (root, real BPF) + quick corpus"
	@echo "make unit       unit tests only"
	@echo "make e2e        end-to-end tests only"
	@echo "make corpus     CPython's own test suites under the tracer (slow)"
	@echo "make bench-hook hook cost ratios (see BENCHMARKS.md)"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR="
	@echo "make vmlinux    regenerate vmlinux/$(VMLINUX_ARCH)/vmlinux.h from this kernel"
	@echo "make format | lint"

deps:
	@tools/install-deps.sh --check >/dev/null 2>&1 || tools/install-deps.sh

$(BUILD) $(BUILD)/obj $(BUILD)/tests:
	@mkdir -p $@

# ---- BPF object and skeleton
$(BUILD)/pysectrace.bpf.o: bpf/pysectrace.bpf.c bpf/pysectrace.h hookmod/pysechook_abi.h | $(BUILD)
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

test: unit e2e corpus-quick

# CPython's own test suites under the tracer (tests/corpus/README.md)
corpus: all
	/usr/bin/python3 tests/corpus/run_corpus.py --build $(BUILD)

bench-hook: all
	/usr/bin/python3 tools/bench_hook.py --build $(BUILD)

# ---- fuzzing (libFuzzer + ASan/UBSan): the policy parser; FUZZ_SECONDS per run
FUZZ_SECONDS ?= 60
$(BUILD)/fuzz/fuzz_policy: tests/fuzz/fuzz_policy.c userspace/policy.c userspace/policy_ctl.c \
		hookmod/rulematch.c $(wildcard userspace/policy*.h hookmod/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -Ibpf -Iuserspace -Ihookmod \
		$(filter %.c,$^) -o $@ -ljson-c -lyaml

.PHONY: fuzz-policy
fuzz-policy: $(BUILD)/fuzz/fuzz_policy
	@mkdir -p $(BUILD)/fuzz/corpus-policy
	$< -max_total_time=$(FUZZ_SECONDS) -max_len=8192 $(BUILD)/fuzz/corpus-policy \
		tests/fuzz/corpus/policy

# ---- misc
vmlinux:
	@mkdir -p vmlinux/$(VMLINUX_ARCH)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(VMLINUX_ARCH)/vmlinux.h

install: all
	install -D -m 0755 $(BUILD)/pysectrace $(DESTDIR)$(PREFIX)/bin/pysectrace
	install -D -m 0644 $(BUILD)/libpysechook.so $(DESTDIR)$(PREFIX)/lib/pysectrace/libpysechook.so
	install -D -m 0644 $(BUILD)/pysechook.abi3.so $(DESTDIR)$(PREFIX)/lib/pysectrace/pysechook.abi3.so
	install -D -m 0644 docs/pysectrace.1 $(DESTDIR)$(PREFIX)/share/man/man1/pysectrace.1

format:
	clang-format -i bpf/*.c bpf/*.h userspace/*.c userspace/*.h hookmod/*.c hookmod/*.h tests/unit/*.c

lint: $(BUILD)/pysectrace.skel.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		-I bpf -I userspace -I hookmod userspace hookmod

clean:
	rm -rf $(BUILD)

demo: all
	$(BUILD)/pysectrace run -- /usr/bin/python3 tools/demo.py
