# leasebox: install, test, demo. `make help` lists the targets.
PREFIX      ?= /usr
# /usr/local/ as /usr/local
override PREFIX := $(PREFIX:%/=%)
DESTDIR     ?=
PYTHON      ?= /usr/bin/python3
PYLIBDIR    ?= $(PREFIX)/lib/python3/dist-packages
# Debian's python3-pyroute2, -systemd and -jeepney: the programs look there after PYLIBDIR
DEPLIBDIR   ?= /usr/lib/python3/dist-packages
UNITDIR     ?= $(PREFIX)/lib/systemd/system
LIBDIR      ?= $(PREFIX)/lib/leasebox
BINDIR      ?= $(PREFIX)/bin
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
CATALOGDIR  ?= $(PREFIX)/lib/systemd/catalog
PROGRAMS    := leasebox-io:leasebox.io.main leasebox-engine:leasebox.engine.main \
               leasebox-netconf:leasebox.netconf.main leasebox-bus:leasebox.bus.main \
               leaseboxctl:leasebox.ctl.main

.PHONY: help check test demo install install-python install-programs install-data \
	check-prefix
help:
	@echo "make check     the fast loop: lint, types, import contracts, the pure tests (no root)"
	@echo "make test      run the whole test suite (installs what it needs)"
	@echo "make demo      the one-command demo under a real systemd"
	@echo "make install   install into DESTDIR (PREFIX=$(PREFIX)): python package, programs, units, root"

check:
	./scripts/check

test:
	./scripts/test

demo:
	./scripts/demo

install: install-python install-data

# The python package and the programs. Debian's packaging installs the package with
# dh-python instead, then install-programs and install-data.
install-python: install-programs
	install -d $(DESTDIR)$(PYLIBDIR)
	cd src && find leasebox -name '*.py' -o -name py.typed | while read -r f; do \
		install -D -m 0644 "$$f" "$(DESTDIR)$(PYLIBDIR)/$$f"; done
	# Byte-compiled here, as the package's postinst does (py3compile): no service can
	# write /usr, so without them each start would compile leasebox from source (io's
	# imports 33 ms of CPU instead of 16, the engine's 61 instead of 26). Readable by the
	# services' users whatever the caller's umask; checked by the sources' mtimes, as
	# py3compile's (even under SOURCE_DATE_EPOCH): copy a staged tree with its times.
	umask 022 && "$(PYTHON)" -I -m compileall -q -f --invalidation-mode timestamp \
		-d "$(PYLIBDIR)/leasebox" "$(DESTDIR)$(PYLIBDIR)/leasebox"

# Each program is a script of five lines (six under another PREFIX). Not the wheel's
# entry-point scripts: they import re (for a Windows suffix), which leasebox-io needs for
# nothing else (~2 ms of each start). -S: no site module (~1.7 ms of CPU at each start);
# sys.path is the standard library, PYLIBDIR and DEPLIBDIR only, so nothing pip put in
# /usr/local shadows leasebox or pyroute2 (unless PREFIX puts leasebox there).
install-programs: check-prefix
	install -d $(DESTDIR)$(BINDIR)
	for p in $(PROGRAMS); do \
		name=$${p%%:*}; mod=$${p#*:}; \
		{ printf '#!%s -IS\nimport sys\n' "$(PYTHON)"; \
		  for d in $(PYLIBDIR) $(filter-out $(PYLIBDIR),$(DEPLIBDIR)); do \
			printf 'sys.path.append("%s")\n' "$$d"; done; \
		  printf 'from %s import main\nsys.exit(main())\n' "$$mod"; \
		} > "$(DESTDIR)$(BINDIR)/$$name"; \
		chmod 0755 "$(DESTDIR)$(BINDIR)/$$name"; done

# The services see the host's /usr and nothing else of it (BindReadOnlyPaths=/usr in their
# minimal root): their interpreter, the programs and every Python package they import must
# be below /usr. The paths go into units, sed expressions and Python strings as they are:
# normalized absolute paths of plain characters only (checked from the environment, where
# any character is safe).
check-prefix: export CHECK_PYTHON = $(PYTHON)
check-prefix: export CHECK_BINDIR = $(BINDIR)
check-prefix: export CHECK_PYLIBDIR = $(PYLIBDIR)
check-prefix: export CHECK_DEPLIBDIR = $(DEPLIBDIR)
check-prefix: export CHECK_LIBDIR = $(LIBDIR)
check-prefix:
	@for d in "$$CHECK_PYTHON" "$$CHECK_BINDIR" "$$CHECK_PYLIBDIR" "$$CHECK_DEPLIBDIR" \
			"$$CHECK_LIBDIR"; do case "$$d" in \
		""|[!/]*|*[!A-Za-z0-9/._+-]*|*//*|*/./*|*/.|*/../*|*/..|*/) \
			printf 'make: "%s": not a normalized absolute path of letters, digits and / . _ + -\n' \
				"$$d" >&2; exit 1;; esac; done
	@for d in "$$CHECK_PYTHON" "$$CHECK_BINDIR" "$$CHECK_PYLIBDIR" "$$CHECK_DEPLIBDIR"; do \
		case "$$d" in /usr/*) ;; \
		*) printf 'make: %s is not below /usr, the only part of the file system the %s\n' \
			"$$d" "services see (BindReadOnlyPaths=/usr); use PREFIX=/usr or /usr/local" >&2; \
		   exit 1;; esac; done

# Units, the minimal root the services run in (RootDirectory=), sysusers, catalog.
# The root holds every mount point systemd needs in it, so that it makes none below a /usr
# that may be read-only: the API file systems, usr/ (/usr, bound read-only), etc/leasebox
# (leasebox.conf), var/tmp (PrivateTmp=), etc/ and var/ (the tmpfs of leasebox-bus and of
# the engine, which hold the mount points of the user database's files and of each
# interface's state directory, as /run's tmpfs those of the sockets), and root/ (which
# systemd would make, when it can, as its base file system; ProtectHome= skips the paths
# that are absent).
# The units name the programs and the root by the paths of PREFIX=/usr; under another
# PREFIX they are rewritten to BINDIR's and LIBDIR's.
install-data: check-prefix
	install -d $(DESTDIR)$(UNITDIR)
	for f in units/*.service units/*.socket units/*.target units/*.path; do \
		sed -e 's|/usr/bin/leasebox|$(BINDIR)/leasebox|g' \
			-e 's|/usr/lib/leasebox/root|$(LIBDIR)/root|g' \
			"$$f" > "$(DESTDIR)$(UNITDIR)/$${f#units/}" && \
		chmod 0644 "$(DESTDIR)$(UNITDIR)/$${f#units/}" || exit 1; done
	install -d $(DESTDIR)$(LIBDIR)/root
	for d in usr proc dev run tmp var var/tmp sys etc etc/leasebox root; do \
		install -d -m 0755 $(DESTDIR)$(LIBDIR)/root/$$d; done
	for l in bin lib lib64 sbin; do ln -sfn usr/$$l $(DESTDIR)$(LIBDIR)/root/$$l; done
	install -D -m 0644 packaging/sysusers.d/leasebox.conf $(DESTDIR)$(SYSUSERSDIR)/leasebox.conf
	install -D -m 0644 packaging/tmpfiles.d/leasebox.conf $(DESTDIR)$(TMPFILESDIR)/leasebox.conf
	install -D -m 0644 units/leasebox.catalog $(DESTDIR)$(CATALOGDIR)/leasebox.catalog
