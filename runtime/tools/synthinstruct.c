/* synthinstruct: writes DIR/train.jsonl and DIR/heldout.jsonl, a small
 * instruction-tuning set (Alpaca rows: {"instruction", "input", "output"})
 * about the same invented world synthcorpus writes its pretraining text from.
 *
 *   synthinstruct --out DIR [--seed N]
 *
 * With the same seed both tools build the identical world (synthworld.h), so
 * a model pretrained on synthcorpus has seen every fact asked about here.
 * Task kinds, all with short answers so exact match is a meaningful score:
 *   facts       "Where does X live?" -> "X lives in Y." (city, colour, pet,
 *               job, favourite number, friend; answers use the corpus's own
 *               sentences)
 *   arithmetic  "What is 17 plus 25?" -> "42" (plus, minus, times)
 *   add-input   "Add the numbers." with input "12 and 30" -> "42"
 *   counting    "Count from three to six." -> "three, four, five, six"
 * The held-out split asks only about (person, relation) pairs, number pairs
 * (unordered for plus and times) and counting ranges that never occur in
 * train.jsonl: it measures whether the fine-tuned format generalises to facts
 * the model met only in pretraining. The same seed gives the same bytes. */
#define SW_PROG "synthinstruct"
#include "synthworld.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per split and kind. Train counts stay well under each kind's pool of
 * distinct questions (facts: every train pair in both phrasings; plus/add:
 * 51*51 ordered pairs; minus: 1326; times: 144; counting: 573 ranges), so
 * rejection sampling of unused questions ends quickly. */
enum { K_FACT, K_PLUS, K_MINUS, K_TIMES, K_ADD, K_COUNT, N_KINDS };
static const int TRAIN_N[N_KINDS] = {540, 800, 700, 100, 460, 400};     /* 3000 */
static const int HELD_N[N_KINDS] = {90, 30, 25, 10, 20, 25};            /* 200 */
#define N_REL 6
#define HELD_PER_REL 15        /* HELD_N[K_FACT] / N_REL people per relation */
#define MAX_ADD 50             /* operands of plus and minus: 0..50, as in the corpus */
#define MAX_TIMES 12           /* operands of times: 1..12, as in the corpus */
#define MAX_COUNT 99           /* counting stays within the words number_words knows */

typedef struct {
    char instruction[96];
    char input[32];
    char output[256];
} row_t;

typedef struct {
    row_t *r;
    int n, cap;
} rows_t;

static row_t *new_row(rows_t *rs) {
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 256;
        rs->r = realloc(rs->r, (size_t)rs->cap * sizeof *rs->r);
        if (!rs->r) rt_die("synthinstruct: out of memory");
    }
    row_t *r = &rs->r[rs->n++];
    memset(r, 0, sizeof *r);
    return r;
}

/* ---- facts ---- */
/* Question phrasings per relation (two each, both used in train, so the
 * held-out questions are never in an unseen wording). */
static const char *const QUESTIONS[N_REL][2] = {
    {"Where does %s live?", "In which city does %s live?"},
    {"What is %s's favourite colour?", "Which colour does %s like?"},
    {"What pet does %s have?", "Which animals does %s have?"},
    {"What is %s's job?", "What does %s do for a living?"},
    {"What is %s's favourite number?", "Which number does %s like best?"},
    {"Who is %s's friend?", "Who is %s friends with?"},
};

/* The answer is the sentence synthcorpus writes for this fact (with the
 * name, not a pronoun), so it occurs verbatim in the pretraining text. */
static void fact_answer(char out[256], const person_t *p, int rel) {
    char pets[64];
    switch (rel) {
    case 0: snprintf(out, 256, "%s lives in %s.", p->name, cities[p->city]); break;
    case 1: snprintf(out, 256, "%s likes %s.", p->name, COLOURS[p->colour]); break;
    case 2:
        pets_phrase(pets, p);
        snprintf(out, 256, "%s has %s.", p->name, pets);
        break;
    case 3: snprintf(out, 256, "%s is %s %s.", p->name, a_an(JOBS[p->job]), JOBS[p->job]); break;
    case 4: snprintf(out, 256, "%s's favourite number is %d.", p->name, p->number); break;
    default: snprintf(out, 256, "%s's friend is %s.", p->name, people[p->friend_].name); break;
    }
}

static void fact_row(rows_t *rs, int person, int rel, int phrasing) {
    row_t *r = new_row(rs);
    const person_t *p = &people[person];
    /* the format is one of the fixed strings above, each with one %s */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(r->instruction, sizeof r->instruction, QUESTIONS[rel][phrasing], p->name);
#pragma GCC diagnostic pop
    fact_answer(r->output, p, rel);
}

/* ---- arithmetic and counting ---- */
static const char *const OP_WORD[N_KINDS] = {"", "plus", "minus", "times", "", ""};

static int apply(int kind, int x, int y) {
    return kind == K_MINUS ? x - y : kind == K_TIMES ? x * y : x + y;
}

static void number_row(rows_t *rs, int kind, int x, int y) {
    row_t *r = new_row(rs);
    if (kind == K_COUNT) {
        char w[32], w2[32];
        number_words(w, x);
        number_words(w2, y);
        snprintf(r->instruction, sizeof r->instruction, "Count from %s to %s.", w, w2);
        size_t o = 0;
        for (int k = x; k <= y; k++) {
            number_words(w, k);
            o += (size_t)snprintf(r->output + o, sizeof r->output - o, "%s%s", k > x ? ", " : "",
                                  w);
        }
    } else if (kind == K_ADD) {
        snprintf(r->instruction, sizeof r->instruction, "Add the numbers.");
        snprintf(r->input, sizeof r->input, "%d and %d", x, y);
        snprintf(r->output, sizeof r->output, "%d", x + y);
    } else {
        snprintf(r->instruction, sizeof r->instruction, "What is %d %s %d?", x, OP_WORD[kind], y);
        snprintf(r->output, sizeof r->output, "%d", apply(kind, x, y));
    }
}

/* Draws operands for `kind`: x, y in the kind's range (minus: x >= y so the
 * answer is never negative; counting: a range of 3 to 8 numbers). */
static void draw_pair(int kind, int *x, int *y) {
    if (kind == K_TIMES) {
        *x = rnd_range(1, MAX_TIMES);
        *y = rnd_range(1, MAX_TIMES);
    } else if (kind == K_COUNT) {
        int len = rnd_range(3, 8);
        *x = rnd_range(0, MAX_COUNT + 1 - len);
        *y = *x + len - 1;
    } else {
        *x = rnd_range(0, MAX_ADD);
        *y = rnd_range(0, MAX_ADD);
        if (kind == K_MINUS && *x < *y) {
            int t = *x;
            *x = *y;
            *y = t;
        }
    }
}

/* held[k][x][y]: the pair is reserved for the held-out split. Plus and
 * add-input share one table (K_PLUS) and, like times, mark both orders, so
 * "12 plus 30" in held-out keeps "30 plus 12" and "Add 12 and 30" out of
 * train. used[k][x][y]: this exact question is already in train. */
static unsigned char held[N_KINDS][MAX_COUNT + 1][MAX_COUNT + 1];
static unsigned char used[N_KINDS][MAX_COUNT + 1][MAX_COUNT + 1];

static int held_table(int kind) { return kind == K_ADD ? K_PLUS : kind; }

static void reserve(int kind, int x, int y) {
    int t = held_table(kind);
    held[t][x][y] = 1;
    if (kind != K_MINUS && kind != K_COUNT) held[t][y][x] = 1;
}

/* Adds `n` distinct number questions of `kind`, drawn at random, to the
 * held-out split (reserving their pairs) or to train (avoiding reserved
 * pairs and repeats). */
static void number_rows(rows_t *rs, int kind, int n, int to_held) {
    int t = held_table(kind);
    for (int made = 0, tries = 0; made < n; tries++) {
        if (tries > 1000000)
            rt_die("synthinstruct: cannot draw %d distinct questions of kind %d", n, kind);
        int x, y;
        draw_pair(kind, &x, &y);
        if (held[t][x][y] || used[kind][x][y]) continue;
        if (to_held) reserve(kind, x, y);
        else used[kind][x][y] = 1;
        number_row(rs, kind, x, y);
        made++;
    }
}

static void shuffle(rows_t *rs) {
    for (int i = rs->n - 1; i > 0; i--) {
        int j = rnd_int(i + 1);
        row_t t = rs->r[i];
        rs->r[i] = rs->r[j];
        rs->r[j] = t;
    }
}

/* ---- output ---- */
static void json_string(buf_t *b, const char *s) {
    add(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') add(b, "\\%c", *c);
        else if (*c == '\n') add(b, "\\n");
        else if (*c < 0x20) add(b, "\\u%04x", *c);
        else add(b, "%c", *c);
    }
    add(b, "\"");
}

static int write_rows(const char *dir, const char *name, const rows_t *rs) {
    buf_t b = {rt_malloc(1 << 16), 0, 1 << 16};
    for (int i = 0; i < rs->n; i++) {
        add(&b, "{\"instruction\": ");
        json_string(&b, rs->r[i].instruction);
        add(&b, ", \"input\": ");
        json_string(&b, rs->r[i].input);
        add(&b, ", \"output\": ");
        json_string(&b, rs->r[i].output);
        add(&b, "}\n");
    }
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0) rt_die("out of memory");
    int rc = rt_write_file_atomic(path, b.p, b.n);
    if (rc == 0) printf("synthinstruct: wrote %s: %d rows, %zu bytes\n", path, rs->n, b.n);
    free(path);
    free(b.p);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f, "usage: synthinstruct --out DIR [--seed N]\n"
               "writes DIR/train.jsonl and DIR/heldout.jsonl (Alpaca rows) about the world\n"
               "synthcorpus builds for the same seed (default 1)\n");
}

int main(int argc, char **argv) {
    const char *out = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        static const char *const known[] = {"--out", "--seed", NULL};
        char key[32];
        const char *v = NULL;
        const int rc = synth_arg(argc, argv, &i, known, usage, key, &v);
        if (rc >= 0) return rc;
        if (!strcmp(key, "--out")) {
            if (!*v) rt_die("synthinstruct: --out: empty directory name");
            out = v;
        } else if (parse_u64(v, &seed)) {
            rt_die("synthinstruct: --seed: expected a non-negative integer, got '%s'", v);
        }
    }
    if (!out) {
        fprintf(stderr, "error: synthinstruct: --out DIR is required\n");
        usage(stderr);
        return 1;
    }

    world_build(seed);
    /* A stream of its own for the questions, so they do not depend on how
     * many draws the world took. */
    rng_state = rt_splitmix64(seed ^ 0x1a57c0deULL);

    rows_t train = {0}, heldout = {0};
    /* Held-out facts: HELD_PER_REL people per relation, each asked in one of
     * the two phrasings; train asks every other (person, relation) pair in
     * both phrasings. */
    unsigned char held_fact[N_PEOPLE][N_REL] = {{0}};
    for (int rel = 0; rel < N_REL; rel++) {
        int order[N_PEOPLE];
        for (int i = 0; i < N_PEOPLE; i++) order[i] = i;
        for (int i = 0; i < HELD_PER_REL; i++) {
            int j = i + rnd_int(N_PEOPLE - i), t = order[i];
            order[i] = order[j];
            order[j] = t;
            held_fact[order[i]][rel] = 1;
            fact_row(&heldout, order[i], rel, rnd_int(2));
        }
    }
    for (int k = K_PLUS; k < N_KINDS; k++) number_rows(&heldout, k, HELD_N[k], 1);

    for (int p = 0; p < N_PEOPLE; p++)
        for (int rel = 0; rel < N_REL; rel++)
            if (!held_fact[p][rel])
                for (int ph = 0; ph < 2; ph++) fact_row(&train, p, rel, ph);
    for (int k = K_PLUS; k < N_KINDS; k++) number_rows(&train, k, TRAIN_N[k], 0);

    /* the tables above must add up, or the split sizes would silently drift */
    int want_train = 0, want_held = 0;
    for (int k = 0; k < N_KINDS; k++) want_train += TRAIN_N[k], want_held += HELD_N[k];
    if (train.n != want_train || heldout.n != want_held || HELD_N[K_FACT] != N_REL * HELD_PER_REL)
        rt_die("synthinstruct: internal error: %d/%d train rows, %d/%d held-out rows", train.n,
               want_train, heldout.n, want_held);

    shuffle(&train);
    shuffle(&heldout);
    if (rt_mkdirs(out) != 0) return 1;
    if (write_rows(out, "train.jsonl", &train) != 0 ||
        write_rows(out, "heldout.jsonl", &heldout) != 0)
        return 1;
    free(train.r);
    free(heldout.r);
    return 0;
}
