/* test_fetch.c - SHA-256 and MD5 against known vectors, file hashing, mkdirs
 * and stat.  Downloads are covered by test/lua/test_get_file.lua (it needs a
 * local HTTP server). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_fetch.h"
#include "check.h"

static void expect_hash(const char *algo, const char *msg, size_t n, const char *want) {
  char hex[65];
  CHECK(seq_hash_buffer(msg, n, algo, hex, sizeof hex) == SEQ_OK);
  if (strcmp(hex, want) != 0) {
    fprintf(stderr, "%s(%.20s...) = %s, want %s\n", algo, msg, hex, want);
    failures++;
  }
}

int main(void) {
  expect_hash("sha256", "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  expect_hash("sha256", "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  expect_hash("sha256", m448, strlen(m448),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  expect_hash("md5", "", 0, "d41d8cd98f00b204e9800998ecf8427e");
  expect_hash("md5", "abc", 3, "900150983cd24fb0d6963f7d28e17f72");
  expect_hash("md5", "The quick brown fox jumps over the lazy dog", 43,
              "9e107d9d372bb6826bd81d3542a419d6");

  /* A million 'a's through the streaming interface in odd-sized pieces. */
  seq_sha256_ctx c;
  seq_sha256_init(&c);
  char *a = malloc(1000000);
  memset(a, 'a', 1000000);
  for (size_t off = 0; off < 1000000;) {
    size_t k = 1000000 - off < 777 ? 1000000 - off : 777;
    seq_sha256_update(&c, a + off, k);
    off += k;
  }
  uint8_t d[32];
  seq_sha256_final(&c, d);
  char hex[65];
  for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", d[i]);
  CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);

  /* File hashing, mkdirs, stat. */
  char dir[] = "/tmp/seq_fetch_testXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char sub[256], file[300];
  snprintf(sub, sizeof sub, "%s/x/y/z", dir);
  CHECK(seq_fetch_mkdirs(sub) == SEQ_OK);
  CHECK(seq_fetch_mkdirs(sub) == SEQ_OK); /* idempotent */
  snprintf(file, sizeof file, "%s/f.bin", sub);
  FILE *f = fopen(file, "wb");
  fwrite(a, 1, 1000000, f);
  fclose(f);
  CHECK(seq_hash_file(file, "sha256", hex, sizeof hex) == SEQ_OK);
  CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
  CHECK(seq_hash_file(file, "md5", hex, sizeof hex) == SEQ_OK);
  CHECK(strcmp(hex, "7707d6ae4e027c70eea2a935c2296f21") == 0);
  int64_t size = 0, mt = 0;
  CHECK(seq_fetch_stat(file, &size, &mt) == SEQ_OK && size == 1000000 && mt > 0);
  CHECK(seq_fetch_stat(sub, &size, &mt) != SEQ_OK); /* a directory */
  CHECK(seq_hash_file("/nonexistent/file", "sha256", hex, sizeof hex) == SEQ_EIO);
  CHECK(strstr(seq_last_error(), "/nonexistent/file") != NULL);
  CHECK(seq_hash_file(file, "sha1", hex, sizeof hex) == SEQ_EARG);
  remove(file);
  free(a);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);

  if (failures) fprintf(stderr, "test_fetch: %d failures\n", failures);
  else printf("test_fetch: ok\n");
  return failures ? 1 : 0;
}
