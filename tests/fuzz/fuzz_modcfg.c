/* Fuzz modcfg_parse (p11-kit module configs). The first byte chooses the
 * output size, so short buffers are exercised too. Invariants: on success
 * the path is absolute, NUL-terminated within the buffer and free of NUL
 * and newline bytes; on failure nothing beyond the buffer is touched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[600], *text;
	size_t outlen;

	if (size == 0 || size > 70000)
		return 0;
	outlen = data[0] == 0xff ? 512 : data[0]; /* 0..254 or a roomy 512 */
	text = malloc(size - 1 ? size - 1 : 1);
	if (text == NULL)
		return 0;
	if (size > 1)
		memcpy(text, data + 1, size - 1);
	memset(out, 'X', sizeof(out));
	if (modcfg_parse(text, size - 1, out, outlen) == 0) {
		size_t n = strnlen(out, outlen);

		if (n == outlen || out[0] != '/' || memchr(out, '\n', n) != NULL)
			abort();
	}
	if (out[outlen] != 'X')
		abort();
	free(text);
	return 0;
}
