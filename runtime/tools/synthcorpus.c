/* synthcorpus: writes DIR/train.txt, a synthetic English-like corpus with
 * structure a tiny model can learn in minutes.
 *
 *   synthcorpus --out DIR [--seed N] [--docs N]
 *
 * A small "world" is drawn from the seed: invented people (syllable names),
 * each with fixed facts (city, colour, pet, job, number, friend) that every
 * document states consistently, so the facts are learnable. Documents mix
 * fact sheets, questions and answers, arithmetic, counting, stories with
 * number and pronoun agreement, and lists; they are separated by a blank
 * line. All text is generated here from templates; the same seed gives the
 * same bytes. The world itself lives in synthworld.h, shared with
 * synthinstruct (instruction-tuning questions about the same people). */
#define SW_PROG "synthcorpus"
#include "synthworld.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DOCS 12000

/* Plain connective sentences (written for this tool): lowercase, common
 * letters, so the corpus's letter statistics stay close to English. */
static const char *SCENES[] = {
    "The sun was warm and the road was long, so they sat down under a tree to rest.",
    "It started to rain, and they waited in the doorway until the rain was over.",
    "The street was full of people, and there was a smell of fresh bread in the air.",
    "They talked for a long time about the weather and the new houses near the river.",
    "There was a small shop at the corner, and the woman there sold tea and honey.",
    "In the evening the town was quiet, and the lights came on one by one.",
    "The wind was cold, so they went inside and sat near the fire.",
    "On the table there was a bowl of soup, and they ate it slowly.",
};
#define N_SCENES ((int)(sizeof(SCENES) / sizeof(SCENES[0])))

/* ---- document kinds ---- */
static void fact(buf_t *b, const person_t *p, int k, int use_pronoun) {
    const char *subj = use_pronoun ? He(p) : p->name;
    char pets[64], poss[32];
    if (use_pronoun) snprintf(poss, sizeof poss, "%s", His(p));
    else snprintf(poss, sizeof poss, "%s's", p->name);
    switch (k) {
    case 0: add(b, "%s lives in %s.", subj, cities[p->city]); break;
    case 1: add(b, "%s likes %s.", subj, COLOURS[p->colour]); break;
    case 2: pets_phrase(pets, p); add(b, "%s has %s.", subj, pets); break;
    case 3: add(b, "%s is %s %s.", subj, a_an(JOBS[p->job]), JOBS[p->job]); break;
    case 4: add(b, "%s favourite number is %d.", poss, p->number); break;
    default: add(b, "%s friend is %s.", poss, people[p->friend_].name);
        break;
    }
}

static void doc_profile(buf_t *b) {
    const person_t *p = &people[rnd_int(N_PEOPLE)];
    int order[6] = {0, 1, 2, 3, 4, 5};
    for (int i = 5; i > 0; i--) {
        int j = rnd_int(i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int n = rnd_range(3, 6);
    for (int i = 0; i < n; i++) {
        if (i) add(b, " ");
        fact(b, p, order[i], i > 0 && rnd_int(2));
    }
    add(b, "\n");
}

static void doc_questions(buf_t *b) {
    int n = rnd_range(2, 4);
    for (int i = 0; i < n; i++) {
        const person_t *p = &people[rnd_int(N_PEOPLE)];
        char pets[64];
        switch (rnd_int(5)) {
        case 0:
            add(b, "Q: Where does %s live?\nA: %s lives in %s.\n", p->name, p->name,
                cities[p->city]);
            break;
        case 1:
            add(b, "Q: What colour does %s like?\nA: %s likes %s.\n", p->name, p->name,
                COLOURS[p->colour]);
            break;
        case 2:
            pets_phrase(pets, p);
            add(b, "Q: What does %s have?\nA: %s has %s.\n", p->name, p->name, pets);
            break;
        case 3:
            add(b, "Q: What is %s's job?\nA: %s is %s %s.\n", p->name, p->name, a_an(JOBS[p->job]),
                JOBS[p->job]);
            break;
        default:
            add(b, "Q: Who is %s's friend?\nA: %s's friend is %s.\n", p->name, p->name,
                people[p->friend_].name);
            break;
        }
    }
}

static void doc_arithmetic(buf_t *b) {
    int n = rnd_range(3, 6);
    for (int i = 0; i < n; i++) {
        int x = rnd_range(0, 50), y = rnd_range(0, 50);
        switch (rnd_int(3)) {
        case 0: add(b, "%d plus %d is %d.\n", x, y, x + y); break;
        case 1:
            if (x < y) {
                int t = x;
                x = y;
                y = t;
            }
            add(b, "%d minus %d is %d.\n", x, y, x - y);
            break;
        default:
            x = rnd_range(1, 12);
            y = rnd_range(1, 12);
            add(b, "%d times %d is %d.\n", x, y, x * y);
            break;
        }
    }
}

static void doc_counting(buf_t *b) {
    int lines = rnd_range(1, 3);
    for (int l = 0; l < lines; l++) {
        int len = rnd_range(4, 8);
        if (rnd_int(2)) {
            int start = rnd_range(0, 99 - len);
            for (int i = 0; i < len; i++) {
                char w[32];
                number_words(w, start + i);
                if (i == 0) w[0] = (char)(w[0] - 'a' + 'A');
                add(b, "%s%s", w, i + 1 < len ? ", " : ".\n");
            }
        } else {
            static const int STEPS[] = {1, 2, 3, 5, 10};
            int step = PICK(STEPS), start = rnd_range(0, 20) * step;
            for (int i = 0; i < len; i++) add(b, "%d%s", start + i * step, i + 1 < len ? ", " : ".\n");
        }
    }
}

static void doc_story(buf_t *b) {
    const person_t *p = &people[rnd_int(N_PEOPLE)], *f = &people[p->friend_];
    static const char *OPEN[] = {"One day", "In the morning", "On a cold day", "Last summer",
                                 "After lunch"};
    add(b, "%s, %s went to %s to see %s. ", PICK(OPEN), p->name, cities[f->city], f->name);
    if (f->pets == 1)
        add(b, "%s had one %s. The %s was %s. ", f->name, PETS[f->pet], PETS[f->pet],
            COLOURS[f->colour]);
    else {
        char w[32];
        number_words(w, f->pets);
        add(b, "%s had %s %s. The %s were %s. ", f->name, w, PETS_PL[f->pet], PETS_PL[f->pet],
            COLOURS[f->colour]);
    }
    int k = rnd_range(1, 5), t = rnd_int(8);
    char w[32];
    number_words(w, k);
    if (k == 1)
        add(b, "%s gave %s %s %s. ", p->name, f->name, a_an(THINGS[t]), THINGS[t]);
    else
        add(b, "%s gave %s %s %s. ", p->name, f->name, w, THINGS_PL[t]);
    add(b, "%s said thank you to %s. %s ", f->name, p->name, PICK(SCENES));
    add(b, "Then %s went home to %s, because %s is %s %s and %s work starts early.\n", he(p),
        cities[p->city], he(p), a_an(JOBS[p->job]), JOBS[p->job], his(p));
}

/* Two friends at the market: plenty of the short function words of English. */
static void doc_market(buf_t *b) {
    const person_t *p = &people[rnd_int(N_PEOPLE)], *f = &people[p->friend_];
    int t = rnd_int(8), k = rnd_range(2, 6);
    char w[32];
    number_words(w, k);
    add(b, "%s and %s walked to the market in %s. ", p->name, f->name, cities[p->city]);
    add(b, "They wanted to buy %s %s for the house. ", w, THINGS_PL[t]);
    int s1 = rnd_int(N_SCENES), s2 = (s1 + rnd_range(1, N_SCENES - 1)) % N_SCENES;  /* distinct */
    add(b, "%s %s ", SCENES[s1], SCENES[s2]);
    add(b, "%s liked the %s ones, and %s liked the %s ones. ", p->name, COLOURS[p->colour],
        f->name, COLOURS[f->colour]);
    if (p->colour == f->colour)
        add(b, "It was easy, because they like the same colour. ");
    else
        add(b, "In the end they took %s of each, and they were both happy. ", k == 2 ? "one" : "some");
    add(b, "On the way back, %s told %s about %s %s.\n", p->name, f->name, his(p),
        p->pets == 1 ? PETS[p->pet] : PETS_PL[p->pet]);
}

static void doc_list(buf_t *b) {
    switch (rnd_int(3)) {
    case 0: {
        int c = rnd_int(N_CITIES), first = 1;
        add(b, "People who live in %s:", cities[c]);
        for (int i = 0; i < N_PEOPLE; i++)
            if (people[i].city == c) {
                add(b, "%s %s", first ? "" : ",", people[i].name);
                first = 0;
            }
        add(b, first ? " nobody.\n" : ".\n");
        break;
    }
    case 1: {
        int j = rnd_int(10), first = 1;
        add(b, "Every %s:", JOBS[j]);
        for (int i = 0; i < N_PEOPLE; i++)
            if (people[i].job == j) {
                add(b, "%s %s", first ? "" : ",", people[i].name);
                first = 0;
            }
        add(b, first ? " nobody.\n" : ".\n");
        break;
    }
    default: {
        const person_t *p = &people[rnd_int(N_PEOPLE)];
        int n = rnd_range(2, 4);
        add(b, "%s has these things:", p->name);
        for (int i = 0; i < n; i++) {
            int t = rnd_int(8), c = rnd_int(10);
            add(b, " %s %s %s%s", a_an(COLOURS[c]), COLOURS[c], THINGS[t], i + 1 < n ? "," : ".");
        }
        add(b, " %s likes %s best.\n", He(p), COLOURS[p->colour]);
        break;
    }
    }
}

static void usage(FILE *f) {
    fprintf(f, "usage: synthcorpus --out DIR [--seed N] [--docs N]\n"
               "writes DIR/train.txt (about 3 MB with the default %d documents)\n", DEFAULT_DOCS);
}

int main(int argc, char **argv) {
    const char *out = NULL;
    uint64_t seed = 1, docs = DEFAULT_DOCS;
    for (int i = 1; i < argc; i++) {
        static const char *const known[] = {"--out", "--seed", "--docs", NULL};
        char key[32];
        const char *v = NULL;
        const int rc = synth_arg(argc, argv, &i, known, usage, key, &v);
        if (rc >= 0) return rc;
        if (!strcmp(key, "--out")) {
            if (!*v) rt_die("synthcorpus: --out: empty directory name");
            out = v;
        } else if (!strcmp(key, "--seed")) {
            if (parse_u64(v, &seed)) rt_die("synthcorpus: --seed: expected a non-negative integer, got '%s'", v);
        } else if (parse_u64(v, &docs) || docs < 1 || docs > 100000000) {
            rt_die("synthcorpus: --docs: expected an integer in [1, 100000000], got '%s'", v);
        }
    }
    if (!out) {
        fprintf(stderr, "error: synthcorpus: --out DIR is required\n");
        usage(stderr);
        return 1;
    }

    world_build(seed);
    buf_t b = {rt_malloc(1 << 20), 0, 1 << 20};
    for (uint64_t d = 0; d < docs; d++) {
        if (d) add(&b, "\n");  /* the blank line between documents */
        int kind = rnd_int(16);
        if (kind < 3) doc_profile(&b);
        else if (kind < 4) doc_questions(&b);
        else if (kind < 5) doc_arithmetic(&b);
        else if (kind < 6) doc_counting(&b);
        else if (kind < 10) doc_story(&b);
        else if (kind < 15) doc_market(&b);
        else doc_list(&b);
    }
    if (rt_mkdirs(out) != 0) return 1;
    char *path;
    if (asprintf(&path, "%s/train.txt", out) < 0) rt_die("out of memory");
    if (rt_write_file_atomic(path, b.p, b.n) != 0) return 1;

    double count[256] = {0}, h = 0;
    for (size_t i = 0; i < b.n; i++) count[(unsigned char)b.p[i]]++;
    for (int c = 0; c < 256; c++)
        if (count[c] > 0) h -= count[c] / (double)b.n * log(count[c] / (double)b.n);
    printf("synthcorpus: wrote %s: %llu docs, %zu bytes, byte unigram entropy %.3f nats\n", path,
           (unsigned long long)docs, b.n, h);
    free(path);
    free(b.p);
    return 0;
}
