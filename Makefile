# sandlock: build, install, demo, test.
#
#   make                  cargo build --release, then build/hello and build/sandlock-run
#   make demo             build, then show a confined, deterministic run
#   make test             cargo build + cargo test (Rust, C, C++, ctypes tests), the
#                         sandbox tests again as an unprivileged user (when root), make check
#   make check            cargo fmt --check and cargo clippy -D warnings
#   make bench            the benchmarks
#   make install          PREFIX=/usr/local LIBDIR=$(PREFIX)/lib INCLUDEDIR=$(PREFIX)/include
#                         BINDIR=$(PREFIX)/bin DESTDIR= (staging root)
#   make uninstall        removes exactly what install put (same variables)
#
# The installed .pc is relocatable with `pkg-config --define-variable=prefix=...`
# as long as LIBDIR and INCLUDEDIR are under PREFIX.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=
# Run path of the installed sandlock-run; set it empty when LIBDIR is a system directory.
INSTALL_RPATH ?= $(LIBDIR)

CARGO ?= cargo
RUSTC ?= rustc
PKG_CONFIG ?= pkg-config
INSTALL ?= install
CFLAGS ?= -std=c99 -O2 -g -Wall -Wextra -pedantic
LDFLAGS ?=

VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))

RELEASE := target/release
LIB_SO := $(RELEASE)/libsandlock.so
LIB_A := $(RELEASE)/libsandlock.a
SONAME := libsandlock.so.$(MAJOR)

# In-tree builds find the uninstalled .pc (pkg-config prefers NAME-uninstalled.pc).
PKG_UNINSTALLED := PKG_CONFIG_PATH="$(CURDIR)/build$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH}" $(PKG_CONFIG)

comma := ,

# A path under PREFIX, written relative to ${prefix} in the .pc (relocatable).
pc_path = $(if $(filter $(PREFIX)/%,$(1)),$${prefix}/$(patsubst $(PREFIX)/%,%,$(1)),$(1))

# The .pc template: @prefix@, @libdir@, @includedir@, @version@, @libs_private@.
define PC_TEMPLATE
prefix=@prefix@
exec_prefix=$${prefix}
libdir=@libdir@
includedir=@includedir@

Name: sandlock
Description: Run a program in a deterministic, unprivileged sandbox (Landlock + seccomp)
Version: @version@
Libs: -L$${libdir} -lsandlock
Libs.private: @libs_private@
Cflags: -I$${includedir}
endef
export PC_TEMPLATE

.PHONY: all build demo test check bench install uninstall clean FORCE

all: build

build: $(LIB_SO) $(LIB_A) build/hello build/sandlock-run

# Cargo decides what to rebuild; the library's mtime changes only when it relinks.
# SANDLOCK_LIBDIR is where a statically linked host looks for the installed .so.
$(LIB_SO): FORCE
	SANDLOCK_LIBDIR='$(LIBDIR)' $(CARGO) build --release
	ln -sf libsandlock.so $(RELEASE)/$(SONAME)

$(LIB_A): $(LIB_SO)

build/.dir:
	mkdir -p build
	touch $@

# What a static link needs besides libsandlock.a (Rust's std: -lgcc_s -lutil ...).
build/native-static-libs: | build/.dir
	printf '' | $(RUSTC) --crate-type staticlib --crate-name probe --print native-static-libs \
		-o build/probe.a - 2>&1 | sed -n 's/.*native-static-libs: //p' > $@.tmp
	test -s $@.tmp || echo '-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc' > $@.tmp
	rm -f build/probe.a
	mv $@.tmp $@

# render(output, prefix, libdir, includedir)
render_pc = sed -e 's|@prefix@|$(2)|' -e 's|@libdir@|$(3)|' -e 's|@includedir@|$(4)|' \
	-e 's|@version@|$(VERSION)|' -e "s|@libs_private@|$$(cat build/native-static-libs)|" \
	> $(1).tmp && mv $(1).tmp $(1)

build/sandlock-uninstalled.pc: Makefile Cargo.toml build/native-static-libs
	printf '%s\n' "$$PC_TEMPLATE" | $(call render_pc,$@,$(CURDIR),$${prefix}/$(RELEASE),$${prefix}/include)

# The installed .pc depends on the directories: always rendered afresh by install.
build/sandlock.pc: FORCE build/native-static-libs
	printf '%s\n' "$$PC_TEMPLATE" | $(call render_pc,$@,$(PREFIX),$(call pc_path,$(LIBDIR)),$(call pc_path,$(INCLUDEDIR)))

# In-tree programs: linked through the uninstalled .pc, run from the build tree.
build/%: c-examples/%.c include/sandlock.h $(LIB_SO) build/sandlock-uninstalled.pc
	$(CC) $(CFLAGS) $$($(PKG_UNINSTALLED) --cflags sandlock) $< -o $@ $(LDFLAGS) \
		$$($(PKG_UNINSTALLED) --libs sandlock) -Wl,-rpath,'$(CURDIR)/$(RELEASE)'

# The sandlock-run that install copies: run path to LIBDIR, not to the build tree.
build/install/sandlock-run: FORCE c-examples/sandlock-run.c $(LIB_SO)
	mkdir -p build/install
	$(CC) $(CFLAGS) -Iinclude c-examples/sandlock-run.c -o $@ $(LDFLAGS) -L$(RELEASE) -lsandlock \
		$(if $(INSTALL_RPATH),-Wl$(comma)-rpath$(comma)'$(INSTALL_RPATH)')

demo: build
	@bash c-examples/demo.sh build

# The whole suite: Rust tests, the C/C++/ctypes clients (tests/c_api.rs), then the
# sandbox tests again as an unprivileged user when run as root, then lints.
test:
	$(CARGO) build
	$(CARGO) test
	@if [ "$$(id -u)" = 0 ]; then \
		bash tests/unprivileged.sh; \
	else \
		echo "make test: not root, so the tests above already ran unprivileged"; \
	fi
	$(MAKE) --no-print-directory check

check:
	@if $(CARGO) fmt --version >/dev/null 2>&1; then \
		echo "$(CARGO) fmt --all -- --check"; $(CARGO) fmt --all -- --check; \
	else \
		echo "make check: rustfmt is not installed (rustup component add rustfmt); skipping the format check"; \
	fi
	@if $(CARGO) clippy --version >/dev/null 2>&1; then \
		echo "$(CARGO) clippy --all-targets -- -D warnings"; $(CARGO) clippy --all-targets -- -D warnings; \
	else \
		echo "make check: clippy is not installed (rustup component add clippy); skipping the lints"; \
	fi

bench: build
	$(CARGO) bench --bench spawn

# The library is installed executable: it runs as the sandbox supervisor.
install: build build/sandlock.pc build/install/sandlock-run
	$(INSTALL) -d '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(BINDIR)'
	$(INSTALL) -m 755 $(LIB_SO) '$(DESTDIR)$(LIBDIR)/libsandlock.so.$(VERSION)'
	ln -sf libsandlock.so.$(VERSION) '$(DESTDIR)$(LIBDIR)/$(SONAME)'
	ln -sf $(SONAME) '$(DESTDIR)$(LIBDIR)/libsandlock.so'
	$(INSTALL) -m 644 $(LIB_A) '$(DESTDIR)$(LIBDIR)/libsandlock.a'
	$(INSTALL) -m 644 include/sandlock.h '$(DESTDIR)$(INCLUDEDIR)/sandlock.h'
	$(INSTALL) -m 644 build/sandlock.pc '$(DESTDIR)$(PKGCONFIGDIR)/sandlock.pc'
	$(INSTALL) -m 755 build/install/sandlock-run '$(DESTDIR)$(BINDIR)/sandlock-run'
	@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then \
		echo ldconfig; ldconfig || true; \
	fi

uninstall:
	rm -f '$(DESTDIR)$(LIBDIR)/libsandlock.so.$(VERSION)' \
		'$(DESTDIR)$(LIBDIR)/$(SONAME)' \
		'$(DESTDIR)$(LIBDIR)/libsandlock.so' \
		'$(DESTDIR)$(LIBDIR)/libsandlock.a' \
		'$(DESTDIR)$(INCLUDEDIR)/sandlock.h' \
		'$(DESTDIR)$(PKGCONFIGDIR)/sandlock.pc' \
		'$(DESTDIR)$(BINDIR)/sandlock-run'

clean:
	rm -rf build
	$(CARGO) clean
