/* synthworld.h: the invented world shared by synthcorpus (pretraining text)
 * and synthinstruct (instruction set), so that both tools describe the same
 * people with the same facts for the same seed.
 *
 * Header-only on purpose: each tool is one translation unit built into its
 * own binary (runtime/tools/NAME.c -> build/bin/NAME), and the Makefile has
 * no place for a shared tool object. Everything is static; functions are
 * static inline so a tool that does not use one gets no warning.
 *
 * The random draws below are the ones synthcorpus has always made, in the
 * same order: changing anything here changes every corpus. world_build()
 * leaves the generator's state where synthcorpus continues drawing its
 * documents. */
#ifndef SYNTHWORLD_H
#define SYNTHWORLD_H

#include "rt.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Name used in this header's fatal messages; the including tool may set it. */
#ifndef SW_PROG
#define SW_PROG "synthworld"
#endif

#define N_PEOPLE 60
#define N_CITIES 12
#define N_COLOURS 10
#define N_PETS 8
#define N_JOBS 10
#define N_THINGS 8

/* ---- seeded generator ---- */
static uint64_t rng_state;
static inline uint64_t rnd(void) { return rt_splitmix64(rng_state++); }
static inline int rnd_int(int n) { return (int)(rnd() % (uint64_t)n); }           /* [0, n) */
static inline int rnd_range(int lo, int hi) { return lo + rnd_int(hi - lo + 1); }  /* [lo, hi] */
#define PICK(arr) (arr[rnd_int((int)(sizeof(arr) / sizeof(arr[0])))])

/* ---- growing text buffer ---- */
typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

static inline void add(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void add(buf_t *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) rt_die(SW_PROG ": formatting failed");
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = b->cap * 2 + (size_t)k + 1;
        b->p = realloc(b->p, b->cap);
        if (!b->p) rt_die(SW_PROG ": out of memory (%zu bytes)", b->cap);
    }
}

/* ---- the world ---- */
/* Vocabulary tables: marked unused because not every tool uses every table
 * (C's -Wunused-const-variable would otherwise fire). */
#define SW_TABLE static const char *const __attribute__((unused))
SW_TABLE COLOURS[N_COLOURS] = {"red", "blue", "green", "yellow", "white",
                               "black", "orange", "purple", "brown", "grey"};
SW_TABLE PETS[N_PETS] = {"cat", "dog", "bird", "horse", "rabbit", "goat", "frog", "duck"};
SW_TABLE PETS_PL[N_PETS] = {"cats", "dogs", "birds", "horses", "rabbits", "goats", "frogs",
                            "ducks"};
SW_TABLE JOBS[N_JOBS] = {"baker", "farmer", "teacher", "doctor", "painter",
                         "singer", "sailor", "builder", "fisher", "weaver"};
SW_TABLE THINGS[N_THINGS] = {"apple", "book", "cup", "hat", "box", "stone", "ball", "coat"};
SW_TABLE THINGS_PL[N_THINGS] = {"apples", "books", "cups", "hats", "boxes", "stones", "balls",
                                "coats"};
SW_TABLE ONES[20] = {"zero", "one", "two", "three", "four", "five", "six", "seven",
                     "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
                     "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
SW_TABLE TENS[10] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
                     "eighty", "ninety"};
#undef SW_TABLE

typedef struct {
    char name[24];
    int she;        /* pronoun agreement */
    int city, colour, pet, pets, job, number, friend_;
} person_t;

static person_t people[N_PEOPLE] __attribute__((unused));
static char cities[N_CITIES][24] __attribute__((unused));

static inline void make_name(char *out, int syllables, const char *const *ends, int n_ends) {
    static const char CONS[] = "lnrstlnrstmdk";
    static const char VOW[] = "aeioae";
    int o = 0;
    for (int s = 0; s < syllables; s++) {
        out[o++] = CONS[rnd_int((int)sizeof(CONS) - 1)];
        out[o++] = VOW[rnd_int((int)sizeof(VOW) - 1)];
    }
    const char *e = ends[rnd_int(n_ends)];
    size_t el = strlen(e);
    memcpy(out + o, e, el);
    o += (int)el;
    out[o] = '\0';
    out[0] = (char)(out[0] - 'a' + 'A');
}

static inline int name_taken(const char *s, int np, int nc) {
    for (int i = 0; i < np; i++)
        if (!strcmp(people[i].name, s)) return 1;
    for (int i = 0; i < nc; i++)
        if (!strcmp(cities[i], s)) return 1;
    return 0;
}

static inline void make_world(void) {
    static const char *const P_ENDS[] = {"", "", "n", "la", "ra", "m", "s"};
    static const char *const C_ENDS[] = {"mar", "dor", "ville", "holm", "ton", "ford"};
    for (int i = 0; i < N_CITIES; i++) {
        do make_name(cities[i], rnd_range(1, 2), C_ENDS, 6);
        while (name_taken(cities[i], 0, i));
    }
    for (int i = 0; i < N_PEOPLE; i++) {
        person_t *p = &people[i];
        do make_name(p->name, rnd_range(2, 3), P_ENDS, 7);
        while (name_taken(p->name, i, N_CITIES));
        p->she = rnd_int(2);
        p->city = rnd_int(N_CITIES);
        p->colour = rnd_int(N_COLOURS);
        p->pet = rnd_int(N_PETS);
        p->pets = rnd_range(1, 4);
        p->job = rnd_int(N_JOBS);
        p->number = rnd_range(2, 99);
        do p->friend_ = rnd_int(N_PEOPLE);
        while (p->friend_ == i);
    }
}

/* Seeds the generator and draws the world (people[], cities[]) for `seed`. */
static inline void world_build(uint64_t seed) {
    rng_state = rt_splitmix64(seed ^ 0x5e17c0de);
    make_world();
}

static inline const char *he(const person_t *p) { return p->she ? "she" : "he"; }
static inline const char *He(const person_t *p) { return p->she ? "She" : "He"; }
static inline const char *his(const person_t *p) { return p->she ? "her" : "his"; }
static inline const char *His(const person_t *p) { return p->she ? "Her" : "His"; }
static inline const char *a_an(const char *w) { return strchr("aeiou", w[0]) ? "an" : "a"; }

/* 0..99 in words: "seven", "forty", "forty-two" */
static inline void number_words(char out[32], int n) {
    if (n < 20) snprintf(out, 32, "%s", ONES[n]);
    else if (n % 10 == 0) snprintf(out, 32, "%s", TENS[n / 10]);
    else snprintf(out, 32, "%s-%s", TENS[n / 10], ONES[n % 10]);
}

/* "a dog" / "three dogs" */
static inline void pets_phrase(char out[64], const person_t *p) {
    char w[32];
    if (p->pets == 1) {
        snprintf(out, 64, "%s %s", a_an(PETS[p->pet]), PETS[p->pet]);
    } else {
        number_words(w, p->pets);
        snprintf(out, 64, "%s %s", w, PETS_PL[p->pet]);
    }
}

/* ---- the tools' command line ---- */

static inline int parse_u64(const char *s, uint64_t *out) {
    char *end;
    if (!s || !(*s >= '0' && *s <= '9')) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end) return -1;
    *out = v;
    return 0;
}

/* One option at argv[*i]: "--key value" or "--key=value", the key one of
 * known (NULL-terminated). Returns -1 with key and *val set (*i past a
 * separate value), or the tool's exit status: 0 after --help (usage on
 * stdout), 1 for an unknown key (message and usage on stderr) or a missing
 * value (message). */
static inline int synth_arg(int argc, char **argv, int *i, const char *const *known, void (*usage)(FILE *),
                            char key[32], const char **val) {
    const char *a = argv[*i], *eq = strchr(a, '=');
    size_t kl = eq ? (size_t)(eq - a) : strlen(a);
    if (kl >= 32) kl = 31;
    memcpy(key, a, kl);
    key[kl] = '\0';
    if (!strcmp(key, "--help") || !strcmp(key, "-h")) {
        usage(stdout);
        return 0;
    }
    int ok = 0;
    for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(key, *k);
    if (!ok) {
        fprintf(stderr, "error: " SW_PROG ": unknown argument '%s'\n", a);
        usage(stderr);
        return 1;
    }
    if (eq) {
        *val = eq + 1;
    } else if (*i + 1 < argc) {
        *val = argv[++*i];
    } else {
        fprintf(stderr, "error: " SW_PROG ": %s needs a value\n", key);
        return 1;
    }
    return -1;
}

#endif
