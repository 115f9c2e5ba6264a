# Postern - top-level Makefile.
#
#   make            build build/postern
#   make run        install missing packages, build, start on embedded defaults
#   make test       install, build, run every test; last line "N passed, N failed"
#   make test SAN=1 the same under AddressSanitizer + UBSan (build-san/)
#   make fuzz       build and run every libFuzzer target in t/fuzz for FUZZ_TIME s
#   make bench      benchmarks that print figures (contrib/bench)

CC      := gcc
SAN     ?= 0
FUZZ_TIME ?= 20

ifeq ($(SAN),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer
else
BUILD   := build
SANFLAGS :=
endif

PKGS    := libevent libevent_openssl libevent_pthreads openssl libconfig \
	   sqlite3 rocksdb gmime-3.0 libargon2 libxcrypt hiredis libunbound \
	   opendkim milter libcurl zlib jansson libxxhash
WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wvla -Wimplicit-fallthrough \
	   -Wno-unused-parameter -Werror
# Recursive (=) on purpose: pkg-config runs after the deps step installed it.
CFLAGS  = -std=gnu11 -O2 -g $(WARN) $(SANFLAGS) -D_GNU_SOURCE -I. \
	  -MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libroaring, libstemmer, libspf2 and OpenDMARC ship no pkg-config file:
# linked by name.
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lroaring -lstemmer \
	  -lspf2 -lopendmarc -lcrypto -lpthread
LDFLAGS = $(SANFLAGS)

MODULES := common queue mta store directory delivery lookup filters imap-jmap
LIB_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
CLI_SRC := $(wildcard cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard t/unit/*_test.c)
UNIT_BIN := $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/%)
FUZZ_SRC := $(wildcard t/fuzz/*.c)

DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all run test unit integration fuzz bench clean deps
all: $(BUILD)/postern

# Packages: run contrib/install-deps only when a build dependency is absent.
deps: $(DEPS_STAMP)
$(DEPS_STAMP): contrib/install-deps
	@if ! pkg-config --exists $(PKGS) || [ ! -f /usr/include/cmocka.h ] || \
	    [ -n "$$(contrib/install-deps --print)" ]; then \
		contrib/install-deps; \
	fi
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libpostern.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/postern: $(CLI_OBJ) $(BUILD)/libpostern.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libpostern.a $(LDLIBS)

# Unit tests link the library; cli objects minus main for tests of cli code.
CLI_LIB_OBJ = $(filter-out $(BUILD)/cli/main.o,$(CLI_OBJ))
$(BUILD)/t/%: t/unit/%.c $(BUILD)/libpostern.a $(CLI_LIB_OBJ) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(CLI_LIB_OBJ) $(BUILD)/libpostern.a \
		$(LDLIBS) -lcmocka

run: $(BUILD)/postern
	@if [ "$$(id -u)" = 0 ] && ! id postern >/dev/null 2>&1; then \
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin postern; \
	fi
	$(BUILD)/postern serve

test: $(BUILD)/postern $(UNIT_BIN)
	@BUILD=$(BUILD) t/run-tests

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) UNIT_ONLY=1 t/run-tests

fuzz: | $(DEPS_STAMP)
	@BUILD=$(BUILD) FUZZ_TIME=$(FUZZ_TIME) t/fuzz/run

# Benchmarks: contrib/bench/run (SMTP acceptance into the spool, Postern
# vs Postfix), the full-text index program build/bench/fts_bench
# (t/bench/fts_bench.c, linked like the unit tests) and
# contrib/bench/delivery (SMTP to mailbox, Postern vs Postfix virtual),
# contrib/bench/filters (the pipeline's cost), contrib/bench/outbound
# (relaying to smtp-sink through the SMTP client, Postern vs Postfix),
# build/bench/dkim_bench (t/bench/dkim_bench.c: DKIM signatures per
# second of one core, RSA-2048, Ed25519 and both, 4 KiB and 100 KiB),
# contrib/bench/imap (IMAP, Postern vs Dovecot on one mailbox),
# contrib/bench/imap_idle (memory per IDLE connection, Postern vs
# Dovecot) and contrib/bench/jmap (JMAP, and IMAP for the same work).
# Each runs even when an earlier one failed; the exit status says if any did.
BENCH_SRC := $(wildcard t/bench/*.c)
BENCH_BIN := $(BENCH_SRC:t/bench/%.c=$(BUILD)/bench/%)
$(BUILD)/bench/%: t/bench/%.c $(BUILD)/libpostern.a | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libpostern.a \
		$(LDLIBS) -lm

bench: $(BUILD)/postern $(BENCH_BIN)
	@rc=0; \
	echo "== 1/9 SMTP acceptance into the spool (contrib/bench/run)"; \
	BUILD=$(BUILD) contrib/bench/run || rc=1; \
	echo; echo "== 2/9 full-text index (t/bench/fts_bench.c)"; \
	BUILD=$(BUILD) $(BUILD)/bench/fts_bench || rc=1; \
	echo; echo "== 3/9 SMTP to mailbox delivery (contrib/bench/delivery)"; \
	BUILD=$(BUILD) contrib/bench/delivery || rc=1; \
	echo; echo "== 4/9 anti-spam pipeline cost (contrib/bench/filters)"; \
	BUILD=$(BUILD) contrib/bench/filters || rc=1; \
	echo; echo "== 5/9 outbound SMTP relaying (contrib/bench/outbound)"; \
	BUILD=$(BUILD) contrib/bench/outbound || rc=1; \
	echo; echo "== 6/9 DKIM signing rate per core (t/bench/dkim_bench.c)"; \
	BUILD=$(BUILD) $(BUILD)/bench/dkim_bench || rc=1; \
	echo; echo "== 7/9 IMAP vs Dovecot (contrib/bench/imap)"; \
	BUILD=$(BUILD) contrib/bench/imap || rc=1; \
	echo; echo "== 8/9 memory per idle IMAP connection (contrib/bench/imap_idle)"; \
	BUILD=$(BUILD) contrib/bench/imap_idle || rc=1; \
	echo; echo "== 9/9 JMAP, and IMAP for the same work (contrib/bench/jmap)"; \
	BUILD=$(BUILD) contrib/bench/jmap || rc=1; \
	exit $$rc

-include $(BENCH_BIN:=.d)

# `make bench-spam [CORPUS=DIR]`: the Bayes classifier (postern spam) vs
# bogofilter on one 80/20 split of DIR/spam and DIR/ham; without CORPUS,
# a synthetic corpus from contrib/bench/spamcorpus (contrib/bench/spam).
CORPUS ?=
.PHONY: bench-spam
bench-spam: $(BUILD)/postern
	@BUILD=$(BUILD) contrib/bench/spam $(CORPUS)

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_BIN:=.d)
