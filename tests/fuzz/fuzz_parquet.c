/* fuzz_parquet.c: libFuzzer target for runtime/parquet.c. Parses the input
 * as a Parquet file held in memory and reads every BYTE_ARRAY column of
 * every row group to the end (or to its error). Build and run: see
 * tests/fuzz/README.md. Not part of `make test`. */
#include <stddef.h>
#include <stdint.h>

#include "parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    pq_file_t *f = pq_open_mem(data, size, "fuzz.parquet", err, sizeof(err));
    if (!f) return 0;
    for (int g = 0; g < pq_num_row_groups(f); g++) {
        for (int c = 0; c < pq_num_columns(f); c++) {
            /* Opening fails for columns that are not flat BYTE_ARRAY ones. */
            pq_column_reader_t *r = pq_column_open(f, g, c, err, sizeof(err));
            if (!r) continue;
            const uint8_t *v;
            size_t n;
            int isnull;
            volatile uint8_t sink = 0;
            while (pq_column_next(r, &v, &n, &isnull) == 1)
                if (n) sink ^= v[0] ^ v[n - 1];  /* touch both ends of each value */
            (void)sink;
            pq_column_close(r);
        }
    }
    pq_close(f);
    return 0;
}
