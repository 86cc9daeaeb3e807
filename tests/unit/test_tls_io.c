/* agent/tls_conn.c: the read-ahead behind wolfSSL's receive callback
 * (tls_rx_recv), on real non-blocking sockets. wolfSSL asks for a record's
 * header, then its body; the callback reads more than that and serves the
 * next requests from memory. These scenarios check that the stream comes
 * out whole and in order for any mix of request and write sizes, that an
 * end of stream or a reset is reported only after every byte before it,
 * and that a connection with nothing pending holds no buffer. */
#include <wolfssl/options.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls_int.h"

/* A connected non-blocking pair: [0] is read through tls_rx_recv, [1]
 * writes. */
static void pair_unix(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void pair_tcp(int sv[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sv[1] >= 0);
	assert_int_equal(connect(sv[1], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(sv[0] >= 0);
	close(l);
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			assert_int_equal(poll(&pfd, 1, 5000), 1);
			continue;
		}
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* tls_rx_recv until it gives something other than WANT_READ (bounded). */
static int recv_wait(struct tls_rx *rx, int fd, char *buf, int sz)
{
	int i, n;

	for (i = 0; i < 500; i++) {
		n = tls_rx_recv(rx, fd, buf, sz);
		if (n != WOLFSSL_CBIO_ERR_WANT_READ)
			return n;
		assert_null(rx->data); /* waiting holds nothing */
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		(void)poll(&pfd, 1, 10);
	}
	return n;
}

static void pattern(uint8_t *p, size_t len, size_t from)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)((from + i) * 131u + ((from + i) >> 9));
}

static void an_empty_socket_wants_read_and_holds_nothing(void **state)
{
	struct tls_rx rx = {0};
	char buf[16];
	int sv[2];

	(void)state;
	pair_unix(sv);
	assert_int_equal(tls_rx_recv(&rx, sv[0], buf, 5), WOLFSSL_CBIO_ERR_WANT_READ);
	assert_null(rx.data);
	assert_int_equal(rx.len, 0);
	close(sv[0]);
	close(sv[1]);
}

static void a_header_read_takes_the_records_behind_it_too(void **state)
{
	struct tls_rx rx = {0};
	uint8_t in[3 * 105];
	char out[sizeof(in)];
	int sv[2], n, i;

	(void)state;
	pair_unix(sv);
	pattern(in, sizeof(in), 0);
	write_all(sv[1], in, sizeof(in));
	assert_int_equal(tls_rx_recv(&rx, sv[0], out, 5), 5);
	assert_non_null(rx.data);
	assert_int_equal(rx.len - rx.off, sizeof(in) - 5);
	/* The rest, as wolfSSL would ask: body, header, body, ... */
	for (i = 5; i < (int)sizeof(in); i += n) {
		n = tls_rx_recv(&rx, sv[0], out + i, i % 105 == 0 ? 5 : 100);
		assert_true(n > 0);
	}
	assert_memory_equal(in, out, sizeof(in));
	assert_null(rx.data); /* drained: freed */
	assert_int_equal(tls_rx_recv(&rx, sv[0], out, 5), WOLFSSL_CBIO_ERR_WANT_READ);
	close(sv[0]);
	close(sv[1]);
}

static void a_request_larger_than_the_buffered_bytes_gets_them_alone(void **state)
{
	struct tls_rx rx = {0};
	char out[64];
	int sv[2];

	(void)state;
	pair_unix(sv);
	write_all(sv[1], "0123456789", 10);
	assert_int_equal(tls_rx_recv(&rx, sv[0], out, 4), 4);
	write_all(sv[1], "abcdef", 6); /* queued behind the 6 buffered bytes */
	assert_int_equal(tls_rx_recv(&rx, sv[0], out + 4, 20), 6);
	assert_null(rx.data);
	assert_int_equal(recv_wait(&rx, sv[0], out + 10, 20), 6);
	assert_memory_equal(out, "0123456789abcdef", 16);
	close(sv[0]);
	close(sv[1]);
}

static void end_of_stream_comes_after_every_buffered_byte(void **state)
{
	struct tls_rx rx = {0};
	uint8_t in[5000];
	char out[sizeof(in)];
	int sv[2], got = 0, n;

	(void)state;
	pair_unix(sv);
	pattern(in, sizeof(in), 7);
	write_all(sv[1], in, sizeof(in));
	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	assert_int_equal(tls_rx_recv(&rx, sv[0], out, 5), 5);
	got = 5;
	while ((n = tls_rx_recv(&rx, sv[0], out + got, 333)) > 0)
		got += n;
	assert_int_equal(n, WOLFSSL_CBIO_ERR_CONN_CLOSE);
	assert_int_equal(got, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	assert_null(rx.data);
	/* and again, as a second wolfSSL_read after the close would ask */
	assert_int_equal(tls_rx_recv(&rx, sv[0], out, 5), WOLFSSL_CBIO_ERR_CONN_CLOSE);
	close(sv[0]);
	close(sv[1]);
}

static void a_reset_comes_after_the_bytes_read_before_it(void **state)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct tls_rx rx = {0};
	char out[200];
	int sv[2], n;

	(void)state;
	pair_tcp(sv);
	write_all(sv[1], "header+a body that was read ahead", 33);
	assert_int_equal(recv_wait(&rx, sv[0], out, 7), 7);
	assert_non_null(rx.data);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(sv[1]); /* RST */
	usleep(20000);
	assert_int_equal(tls_rx_recv(&rx, sv[0], out + 7, 100), 26);
	assert_memory_equal(out, "header+a body that was read ahead", 33);
	n = recv_wait(&rx, sv[0], out, 5);
	assert_int_equal(n, WOLFSSL_CBIO_ERR_CONN_RST);
	assert_null(rx.data);
	close(sv[0]);
}

static void a_bad_socket_or_size_is_a_general_error(void **state)
{
	struct tls_rx rx = {0};
	char out[8];

	(void)state;
	assert_int_equal(tls_rx_recv(&rx, -1, out, 5), WOLFSSL_CBIO_ERR_GENERAL);
	assert_null(rx.data);
	assert_int_equal(tls_rx_recv(&rx, 0, out, 0), WOLFSSL_CBIO_ERR_GENERAL);
	tls_rx_free(&rx); /* on an empty one: a no-op */
	assert_null(rx.data);
}

/* 4 MiB in writes of assorted sizes, read back in requests of assorted
 * sizes (1 byte to past the read-ahead buffer), interleaved on one thread
 * over TCP: every byte arrives once, in order, and the end of stream
 * after the last. */
static void assorted_writes_and_reads_keep_the_stream_whole(void **state)
{
	enum { TOTAL = 4 << 20 };
	static const int wsz[] = {1, 5, 22, 16406, 16384 + 22, 70000, 3, 1500, 65536, 131072};
	static const int rsz[] = {5, 16406, 1, 5, 100, 20000, 70000, 5, 7, 16384 + 22, 131072};
	uint8_t *in = malloc(TOTAL), *out = malloc(TOTAL);
	struct tls_rx rx = {0};
	size_t wr = 0, rd = 0, wi = 0, ri = 0;
	int sv[2], n, eof = 0, spins = 0;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	pattern(in, TOTAL, 0);
	pair_tcp(sv);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	while (!eof && spins++ < 2000000) {
		if (wr < TOTAL) {
			size_t k = (size_t)wsz[wi++ % (sizeof(wsz) / sizeof(wsz[0]))];
			ssize_t w;

			if (k > TOTAL - wr)
				k = TOTAL - wr;
			w = write(sv[1], in + wr, k);
			if (w > 0)
				wr += (size_t)w;
			else
				assert_true(errno == EAGAIN);
			if (wr == TOTAL)
				assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
		}
		int want = rsz[ri++ % (sizeof(rsz) / sizeof(rsz[0]))];

		if ((size_t)want > TOTAL - rd)
			want = (int)(TOTAL - rd) > 0 ? (int)(TOTAL - rd) : 5;
		n = tls_rx_recv(&rx, sv[0], (char *)out + rd, want);
		if (n > 0) {
			assert_true(n <= want);
			rd += (size_t)n;
		} else if (n == WOLFSSL_CBIO_ERR_CONN_CLOSE) {
			eof = 1;
		} else {
			assert_int_equal(n, WOLFSSL_CBIO_ERR_WANT_READ);
			assert_null(rx.data);
		}
	}
	assert_true(eof);
	assert_int_equal(rd, TOTAL);
	assert_memory_equal(in, out, TOTAL);
	assert_null(rx.data);
	close(sv[0]);
	close(sv[1]);
	free(in);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_empty_socket_wants_read_and_holds_nothing),
		cmocka_unit_test(a_header_read_takes_the_records_behind_it_too),
		cmocka_unit_test(a_request_larger_than_the_buffered_bytes_gets_them_alone),
		cmocka_unit_test(end_of_stream_comes_after_every_buffered_byte),
		cmocka_unit_test(a_reset_comes_after_the_bytes_read_before_it),
		cmocka_unit_test(a_bad_socket_or_size_is_a_general_error),
		cmocka_unit_test(assorted_writes_and_reads_keep_the_stream_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
