# EPSIP -- SIP Outbound (RFC 5626) edge proxy.
#
#   make            build the four executables into build/bin
#   make run        build and run on embedded defaults (ARGS="..." for flags)
#   make test       unit tests (plain, ASan/UBSan, valgrind), integration
#                   tests (plain and ASan daemons), NAT lab (root only),
#                   browser phones over WSS (root only), the Docker image
#                   (when a Docker engine answers)
#   make test-nat   only the namespace lab: baresip and linphonec behind a
#                   NAT, dead DNS
#   make test-browser
#                   only the browser test: JsSIP and SIP.js phones in
#                   chromium over WSS, calling each other (root;
#                   tests/browser/run.sh, tests/browser/README.md)
#   make test-docker
#                   only the image: built by deploy/docker/Dockerfile, run
#                   by docker-compose, phones against it (needs a Docker
#                   engine; tests/docker/run.sh)
#   make install [PREFIX=/usr/local] [DESTDIR=]
#                   the executables, the systemd unit, the example
#                   configuration and the operator's docs, where
#                   deploy/systemd/epsip.service expects them
#   make deps       install the Debian packages needed to build and run
#   make test-deps  ... and those the tests need as well
#   make docs-metrics
#                   write the counters table of docs/operations.md from
#                   include/epsip/metrics.def (a unit test fails until then)
#   make docs-config
#                   write the keys of man/epsip.conf.5 from the table in
#                   common/config.c (a unit test fails until then)
#   make fuzz [FUZZ_SECONDS=60]
#                   every libFuzzer target of tests/fuzz/ built with clang
#                   under ASan/UBSan and run FUZZ_SECONDS each on a copy of
#                   its seeds; fails on a crash, leak or timeout
#                   (tests/fuzz/run.sh, docs/security.md)
#   make bench      benchmarks (bench/run.sh; BENCH_ONLY=sipp: EPSIP vs a
#                   Kamailio edge + registrar with sipp, plots by gnuplot)
#   make bench-flows FLOWS=100000 RATE=1000 [HOLD=60 RUNS=1]
#                   many TCP flows with REGISTER + CRLF keep-alives, EPSIP
#                   next to bench/trivial_edge.c (bench/many_flows.py)
#   make bench-tls TLS_FLOWS=10000 [TLS_RATE=300 HOLD=60 RUNS=1]
#                   CPU per TLS handshake, full and resumed, next to TCP
#                   (bench/tls_handshakes.py); idle TCP, TLS and WSS flows
#                   side by side, memory per flow (bench/many_flows.py)
#   make bench-overload [RUNS=3]
#                   UDP REGISTER at twice the held rate, from the C client
#                   bench/register_flood.c (bench/overload.py)
#   make format     clang-format (.clang-format) on the lines changed since
#                   HEAD only
#
# Each service is services/<name>/; its main.c becomes the executable and
# the other files a library the unit tests link against.

CC	?= cc
BUILD	?= build
# What building and running needs (`make run`): the compiler and the
# libraries the executables link (LDLIBS and MALLOC_ below).
BUILD_PACKAGES = build-essential libnng-dev libosip2-dev libjansson-dev \
	libmbedtls-dev libsqlite3-dev libmimalloc-dev libssl-dev
# What the tests add (`make test`): cmocka and valgrind for the unit
# tests, pytest, sipp, Kamailio and HAProxy (a load balancer in front of
# two edges) for the integration tests, and for the NAT lab its phones
# and tools.
TEST_PACKAGES = libcmocka-dev valgrind python3 python3-pytest sip-tester \
	kamailio haproxy iproute2 baresip-core linphone-cli nftables \
	conntrack tcpdump systemd-container debootstrap kamailio-tls-modules \
	$(FUZZ_PACKAGES)
# The fuzz targets' compiler: clang, and libFuzzer with clang's sanitizer
# runtimes, which Debian ships in libclang-rt-dev (only recommended by
# clang, so named here).
FUZZ_PACKAGES = clang libclang-rt-dev
# What only the benchmarks add: their plots, and the outbound module of
# the Kamailio edge EPSIP is compared with (bench/kamailio/edge.cfg).
BENCH_PACKAGES = gnuplot-nox kamailio-outbound-modules
WARN	= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -MMD -MP
LDLIBS	= -lnng -losipparser2 -ljansson -lmbedcrypto -lssl -lcrypto \
	-lsqlite3 -lpthread
SAN	= -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
# The registrar-bridge's release build takes its malloc from mimalloc:
# libosip2 and SQLite allocate and free thousands of small blocks per
# REGISTER next to long-lived transactions, and glibc's malloc spent a
# quarter of the bridge's time on that (docs/performance.md).  Linked
# first, it replaces malloc for the whole process; the sanitizer builds
# and the unit tests (valgrind) keep glibc's.
MALLOC_registrar-bridge	= -Wl,--no-as-needed -lmimalloc -Wl,--as-needed

# epsipctl is not a service but is built like one: services/epsipctl/.
SERVICES = supervisor flow-manager sip-router registrar-bridge epsipctl
BIN_supervisor		= epsipd
BIN_flow-manager	= epsip-flow-manager
BIN_sip-router		= epsip-sip-router
BIN_registrar-bridge	= epsip-registrar-bridge
BIN_epsipctl		= epsipctl

COMMON_SRC	= $(wildcard common/*.c)
UNIT_SRC	= $(wildcard tests/unit/*_test.c)
svc_lib_src	= $(filter-out services/$(1)/main.c,$(wildcard services/$(1)/*.c services/$(1)/*/*.c))
LIB_SRC		= $(COMMON_SRC) $(foreach s,$(SERVICES),$(call svc_lib_src,$(s)))

# $(1) = variant dir (release|asan)
objs = $(patsubst %.c,$(BUILD)/$(1)/obj/%.o,$(2))

BINS = $(foreach s,$(SERVICES),$(BUILD)/bin/$(BIN_$(s)))
BINS_ASAN = $(foreach s,$(SERVICES),$(BUILD)/asan/bin/$(BIN_$(s)))
UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/release/tests/%,$(UNIT_SRC))
UNIT_BINS_ASAN = $(patsubst tests/unit/%.c,$(BUILD)/asan/tests/%,$(UNIT_SRC))

.PHONY: all deps test-deps bench-deps run test test-nat test-docker \
	test-browser unit \
	unit-asan integration integration-asan clean bench bench-flows \
	bench-tls bench-overload soak valgrind format docs-metrics docs-config \
	install fuzz fuzz-deps fuzz-build fuzz-corpus fuzz-targets
all: $(BINS)

# The floor the flows benchmark compares EPSIP with (bench/trivial_edge.c).
TRIVIAL_EDGE = $(BUILD)/bin/trivial_edge
$(TRIVIAL_EDGE): bench/trivial_edge.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@

# The overload step's UDP REGISTER generator (bench/register_flood.c).
REGISTER_FLOOD = $(BUILD)/bin/register_flood
$(REGISTER_FLOOD): bench/register_flood.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@

Q	= @
ifeq ($(V),1)
Q	=
endif

$(BUILD)/release/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-ASAN $<")
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) -c $< -o $@

$(BUILD)/release/libepsip.a: $(call objs,release,$(LIB_SRC))
	$(Q)rm -f $@; ar rcs $@ $^
$(BUILD)/asan/libepsip.a: $(call objs,asan,$(LIB_SRC))
	@rm -f $@; ar rcs $@ $^

define service_rule
$(BUILD)/bin/$(BIN_$(1)): $(BUILD)/release/obj/services/$(1)/main.o $(BUILD)/release/libepsip.a
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(CFLAGS) $$^ -o $$@ $$(MALLOC_$(1)) $$(LDLIBS)
$(BUILD)/asan/bin/$(BIN_$(1)): $(BUILD)/asan/obj/services/$(1)/main.o $(BUILD)/asan/libepsip.a
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD-ASAN $$@")
	$$(Q)$$(CC) $$(CFLAGS) $$(SAN) $$^ -o $$@ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rule,$(s))))

$(BUILD)/release/tests/%: $(BUILD)/release/obj/tests/unit/%.o $(BUILD)/release/libepsip.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) -lcmocka
$(BUILD)/asan/tests/%: $(BUILD)/asan/obj/tests/unit/%.o $(BUILD)/asan/libepsip.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(SAN) $^ -o $@ $(LDLIBS) -lcmocka

# libFuzzer targets (tests/fuzz/fuzz_<name>.c, issue 12 §3), built by
# clang in a tree of their own: the library code they call is compiled
# with coverage and ASan/UBSan (fuzzer-no-link), each target linked with
# libFuzzer's main.  `make fuzz` runs each FUZZ_SECONDS on a copy of
# tests/fuzz/corpus/<name>/ (the committed seeds never grow);
# `make fuzz-corpus` rewrites the seeds tests/fuzz/gen_corpus.c makes.
FUZZ_CC		= clang
FUZZ_SECONDS	?= 60
FUZZ_TARGETS	= sip_frame udp_stun flow_token ipc router ws digest
FUZZ_DIR	= $(BUILD)/fuzz
FUZZ_LIB_SRC	= $(COMMON_SRC) $(call svc_lib_src,sip-router) \
	services/flow-manager/control.c
FUZZ_SAN	= address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
FUZZ_CFLAGS	= -O1 -g -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -MMD -MP
FUZZ_BINS	= $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
FUZZ_GEN	= $(FUZZ_DIR)/gen_corpus
# Kept, so that a second `make fuzz` links nothing again.
.SECONDARY: $(patsubst %,$(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o,$(FUZZ_TARGETS))

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) \
	    -c $< -o $@
$(FUZZ_DIR)/libepsip.a: $(call objs,fuzz,$(FUZZ_LIB_SRC))
	@rm -f $@; ar rcs $@ $^
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/libepsip.a
	@$(if $(Q),echo "  LD-FUZZ $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) $^ -o $@ \
	    $(LDLIBS)
$(FUZZ_GEN): $(FUZZ_DIR)/obj/tests/fuzz/gen_corpus.o $(FUZZ_DIR)/libepsip.a
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) \
	    $^ -o $@ $(LDLIBS)

fuzz-deps: deps
	$(call install_missing,$(FUZZ_PACKAGES))
fuzz-build: $(FUZZ_BINS)
fuzz-targets:
	@echo $(FUZZ_TARGETS)
# A line per target (its executions), then "fuzz: N passed, N failed,
# 0 skipped".
fuzz: fuzz-deps
	@tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-corpus: $(FUZZ_GEN)
	$(FUZZ_GEN) tests/fuzz/corpus

# The counters table of docs/operations.md, from include/epsip/metrics.def.
METRICS_DOC = $(BUILD)/release/tools/metrics-doc
$(METRICS_DOC): $(BUILD)/release/obj/tools/metrics_doc.o $(BUILD)/release/libepsip.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)
docs-metrics: $(METRICS_DOC)
	@$(METRICS_DOC) docs/operations.md

# The keys of man/epsip.conf.5, from the table in common/config.c.
CONFIG_DOC = $(BUILD)/release/tools/config-doc
$(CONFIG_DOC): $(BUILD)/release/obj/tools/config_doc.o $(BUILD)/release/libepsip.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)
docs-config: $(CONFIG_DOC)
	@$(CONFIG_DOC) man/epsip.conf.5

# Install what is missing (apt-get needs root: sudo is used when not root).
# $(1): the packages.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call install_missing,$(BUILD_PACKAGES))

test-deps: deps
	$(call install_missing,$(TEST_PACKAGES))

bench-deps: test-deps
	$(call install_missing,$(BENCH_PACKAGES))

run: deps
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/bin/epsipd $(ARGS)

unit: $(UNIT_BINS)
	@tests/run-unit.sh release $(UNIT_BINS)
unit-asan: $(UNIT_BINS_ASAN)
	@tests/run-unit.sh asan $(UNIT_BINS_ASAN)
integration: $(BINS)
	@tests/run-integration.sh $(BUILD)/bin

integration-asan: $(BINS_ASAN)
	@tests/run-integration.sh $(BUILD)/asan/bin

# A real phone (baresip) behind a real NAT, in network namespaces the test
# makes itself; needs root, reports its tests skipped with why otherwise.
test-nat: test-deps
	@$(MAKE) --no-print-directory all
	@tests/nat/run.sh $(BUILD)/bin

# Two browser phones, JsSIP and SIP.js in Debian's chromium driven by
# playwright-core, register through EPSIP over secure WebSocket and call
# each other, in a network namespace the test makes itself; needs root,
# reports its tests skipped with why otherwise.  tests/browser/install.sh
# installs chromium and the pinned npm packages when they are missing.
test-browser: test-deps
	@$(MAKE) --no-print-directory all
	@tests/browser/run.sh $(BUILD)/bin

# EPSIP's image built (with its unit tests) and run by docker-compose
# under a project of its own, phones registering and called through it
# (tests/docker/run.sh).  Needs a Docker engine and docker-compose (not
# in TEST_PACKAGES: .ci/run installs and starts them); without them its
# tests are reported skipped, with why.
test-docker: test-deps
	@tests/docker/run.sh

# Ends with a line per skipped test and what failed, then one summary
# line: "N passed, N failed, N skipped" (tests/run-all.sh).
test: test-deps
	@$(MAKE) --no-print-directory all $(BINS_ASAN) $(UNIT_BINS) \
	    $(UNIT_BINS_ASAN)
	@tests/run-all.sh $(BUILD)

valgrind: $(UNIT_BINS)
	@tests/run-unit.sh valgrind $(UNIT_BINS)

# Where deploy/systemd/epsip.service (and deploy/docker/Dockerfile)
# expect things.  The executables share $(LIBEXECDIR): epsipd starts
# the services from its own directory, found through /proc/self/exe,
# which resolves the link in $(SBINDIR) that puts epsipd on the PATH;
# epsipctl, the operator's tool, is linked there too.
# The unit is installed with /usr/local replaced by $(PREFIX), and both
# /usr/local/lib/systemd/system and /usr/lib/systemd/system are on
# systemd's search path.  The configuration lives in /etc/epsip whatever
# the prefix (the unit reads /etc/epsip/epsip.conf); an existing
# epsip.conf is kept, and the example is always refreshed beside it.
# Man pages: epsipd(8), epsipctl(8), epsip.conf(5) from man/.  Not done
# here: the epsip user, the sysctl settings and `systemctl enable`
# (docs/operations.md).  INSTALL_BINS: other builds of the executables
# (tests/integration/test_install.py installs those it tests).
PREFIX		?= /usr/local
INSTALL_BINS	?= $(BINS)
SBINDIR		= $(PREFIX)/sbin
LIBEXECDIR	= $(PREFIX)/libexec/epsip
UNITDIR		= $(PREFIX)/lib/systemd/system
DOCDIR		= $(PREFIX)/share/doc/epsip
MANDIR		= $(PREFIX)/share/man
CONFDIR		= /etc/epsip
INSTALL_DOCS	= docs/architecture.md docs/configuration.md \
	docs/deployment.md docs/operations.md docs/security.md \
	docs/transports.md

install: $(INSTALL_BINS)
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR) \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(INSTALL_BINS) $(DESTDIR)$(LIBEXECDIR)/
	ln -sfr $(DESTDIR)$(LIBEXECDIR)/epsipd $(DESTDIR)$(SBINDIR)/epsipd
	ln -sfr $(DESTDIR)$(LIBEXECDIR)/epsipctl $(DESTDIR)$(SBINDIR)/epsipctl
	install -m 0644 man/epsip.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/epsipd.8 man/epsipctl.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|/usr/local/|$(PREFIX)/|g' deploy/systemd/epsip.service \
	    >$(DESTDIR)$(UNITDIR)/epsip.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/epsip.service
	install -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 deploy/epsip.conf.example $(DESTDIR)$(CONFDIR)/
	[ -e $(DESTDIR)$(CONFDIR)/epsip.conf ] || install -m 0644 \
	    deploy/epsip.conf.example $(DESTDIR)$(CONFDIR)/epsip.conf

bench: bench-deps
	@$(MAKE) --no-print-directory all $(TRIVIAL_EDGE)
	@bench/run.sh $(BUILD)/bin

# The soak (issue 8 §4): 50,000 flows, 500 REGISTER/s refreshes, 50
# calls/s over the flows and flow churn for DURATION seconds; RSS of every
# process must stay flat.  A bench, not part of `make test`.
DURATION ?= 3600
SOAK_OUT ?= bench/results/soak-$(shell git rev-parse --short HEAD 2>/dev/null || echo local)
soak: bench-deps
	@$(MAKE) --no-print-directory all
	@mkdir -p $(SOAK_OUT)
	@bench/soak.py --bin $(BUILD)/bin --duration $(DURATION) \
	    --dir $(SOAK_OUT) --out $(SOAK_OUT)/raw.jsonl

# Chaos under load (issue 12 §7): a random EPSIP process (flow-manager
# parent or child, sip-router, registrar-bridge) SIGKILLed every 2-5 s for
# CHAOS_DURATION seconds while phones register over TCP and UDP, sipp
# registers and the core calls the phones: registrations lost (must be
# 0), flows lost beyond the killed child's, calls failed and why, restart
# times per service.  A bench, not part of `make test`
# (tests/integration/test_chaos.py runs a short one).
CHAOS_DURATION ?= 600
CHAOS_OUT ?= bench/results/chaos-$(shell git rev-parse --short HEAD 2>/dev/null || echo local).json
.PHONY: chaos
chaos: bench-deps
	@$(MAKE) --no-print-directory all
	@bench/chaos.py --bin $(BUILD)/bin --duration $(CHAOS_DURATION) \
	    --out $(CHAOS_OUT)

# 100,000 TCP flows, EPSIP next to bench/trivial_edge.c (issue 8 §1).
FLOWS	?= 100000
RATE	?= 1000
HOLD	?= 60
RUNS	?= 1
bench-flows: bench-deps
	@$(MAKE) --no-print-directory all $(TRIVIAL_EDGE)
	@/usr/bin/python3 bench/many_flows.py --bin $(BUILD)/bin \
	    --flows $(FLOWS) --rate $(RATE) --hold $(HOLD) --runs $(RUNS)

# TLS and WebSocket (issue 11 §6): the edge's CPU per TLS handshake, full
# and resumed, next to a TCP connect + REGISTER; then TLS_FLOWS idle flows
# over TCP, TLS and WSS side by side, memory per flow.
TLS_FLOWS ?= 10000
TLS_RATE ?= 300
bench-tls: bench-deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/tls_handshakes.py --bin $(BUILD)/bin \
	    --rounds $(RUNS)
	@/usr/bin/python3 bench/many_flows.py --bin $(BUILD)/bin \
	    --systems epsip --transport tcp,tls,wss --flows $(TLS_FLOWS) \
	    --rate $(TLS_RATE) --hold $(HOLD) --runs $(RUNS)

# Twice the held REGISTER rate over UDP, from a client cheap enough not
# to be the first part to fail (bench/overload.py, issue 7 §4).
bench-overload: bench-deps
	@$(MAKE) --no-print-directory all $(REGISTER_FLOOD)
	@/usr/bin/python3 bench/overload.py --bin $(BUILD)/bin --runs $(RUNS)

# clang-format (.clang-format) on the lines that differ from HEAD, staged
# or not; never over the whole tree, where it would change 5 % of the
# lines it cannot lay out as the hand did (see .clang-format).
format:
	git clang-format --force --extensions c,h HEAD -- common include \
	    services tests bench

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
