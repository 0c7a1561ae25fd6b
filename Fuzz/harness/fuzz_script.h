// The byte script every C harness reads: a cursor over libFuzzer's input, and a check that
// aborts with a message (libFuzzer then saves the input as a crash).
#ifndef CNV_FUZZ_SCRIPT_H
#define CNV_FUZZ_SCRIPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fuzz_script {
    const uint8_t *data;
    size_t size;
    size_t at;
};

static inline struct fuzz_script fuzz_script_make(const uint8_t *data, size_t size) {
    struct fuzz_script script = {data, size, 0};
    return script;
}

static inline int fuzz_script_done(const struct fuzz_script *script) {
    return script->at >= script->size;
}

/// The next byte, or 0 once the input is used up (so every input is a complete script).
static inline uint8_t fuzz_u8(struct fuzz_script *script) {
    return script->at < script->size ? script->data[script->at++] : 0;
}

static inline uint16_t fuzz_u16(struct fuzz_script *script) {
    uint16_t low = fuzz_u8(script);
    return (uint16_t)(low | (uint16_t)(fuzz_u8(script) << 8));
}

static inline uint64_t fuzz_u64(struct fuzz_script *script) {
    uint64_t value = 0;
    for (int i = 0; i < 8; i++) value |= (uint64_t)fuzz_u8(script) << (8 * i);
    return value;
}

#define FUZZ_CHECK(condition, ...)                                                          \
    do {                                                                                    \
        if (!(condition)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #condition);   \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fprintf(stderr, "\n");                                                          \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

#endif  // CNV_FUZZ_SCRIPT_H
