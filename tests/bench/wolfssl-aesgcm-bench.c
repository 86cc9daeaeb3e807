/* wolfssl-aesgcm-bench [SECONDS]: AES-128-GCM encryption throughput of the libwolfssl this
 * program was linked with, 16 KiB records (a full TLS record) on one core. Prints one line:
 * "<MB/s> <path of the libwolfssl loaded>". Built twice by check-wolfssl-fast.sh, once
 * against the fast build and once against the system package. */
#define _GNU_SOURCE
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RECORD 16384

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *library_path(void)
{
	Dl_info info;

	if (dladdr((void *)wc_AesGcmEncrypt, &info) == 0 || info.dli_fname == NULL)
		return "?";
	return info.dli_fname;
}

int main(int argc, char **argv)
{
	static unsigned char in[RECORD], out[RECORD];
	static const unsigned char key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	unsigned char iv[12] = {0}, tag[16], aad[13] = {0};
	double seconds = argc > 1 ? atof(argv[1]) : 1.0, start, elapsed;
	unsigned long records = 0;
	Aes aes;

	if (seconds <= 0 || seconds > 60 || wc_AesInit(&aes, NULL, INVALID_DEVID) != 0 ||
		wc_AesGcmSetKey(&aes, key, sizeof key) != 0) {
		fprintf(stderr,
			"wolfssl-aesgcm-bench: setup failed (SECONDS must be in (0, 60])\n");
		return 1;
	}
	start = now();
	do {
		for (int i = 0; i < 64; i++, records++) {
			iv[11] = (unsigned char)records;
			if (wc_AesGcmEncrypt(&aes, out, in, RECORD, iv, sizeof iv, tag, sizeof tag,
				    aad, sizeof aad) != 0) {
				fprintf(stderr, "wolfssl-aesgcm-bench: wc_AesGcmEncrypt failed\n");
				return 1;
			}
		}
		elapsed = now() - start;
	} while (elapsed < seconds);
	wc_AesFree(&aes);
	printf("%.0f %s\n", (double)records * RECORD / elapsed / 1e6, library_path());
	return 0;
}
