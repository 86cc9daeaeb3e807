/* Without libFuzzer: feed every file of the seed corpus directories (and
 * a few edge cases) to the target once, so the targets run in every build. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

static int replay_dir(const char *dir)
{
	char path[4096];
	struct dirent *e;
	DIR *d = opendir(dir);
	int count = 0;

	if (d == NULL)
		return replay_file(dir) == 0 ? 1 : -1;
	while ((e = readdir(d)) != NULL && count < 100000) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (replay_file(path) == 0)
			count++;
	}
	closedir(d);
	return count;
}

int main(int argc, char **argv)
{
	static const uint8_t edge[] = {0, 0xff, '\n', '%', '=', ';', '?', '&'};
	size_t i;
	int total = 0;

	LLVMFuzzerTestOneInput(NULL, 0);
	for (i = 1; i <= sizeof(edge); i++)
		LLVMFuzzerTestOneInput(edge, i);
	for (i = 1; i < (size_t)argc; i++) {
		int n = replay_dir(argv[i]);
		if (n < 0) {
			fprintf(stderr, "cannot read corpus %s\n", argv[i]);
			return 1;
		}
		total += n;
	}
	printf("replayed %d corpus inputs\n", total);
	return 0;
}
