/*
 * HPM control socket client: request formatting, a small strict JSON reader
 * for the flat reply object, and bounded blocking Unix socket I/O.
 * See hpm_client.h for the protocol.  Everything malformed is HPM_ERROR with
 * a reason; nothing here aborts or reads out of bounds.
 */

#define _GNU_SOURCE
#include "hpm_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 8       /* nesting accepted when skipping unknown values */
#define FIELD_MAX 64      /* longest string value kept (hex fields are <= 32) */

/* ---------------------------------------------------------------- helpers */

static void set_reason(hpm_answer_t *out, const char *fmt, const char *arg)
{
	snprintf(out->reason, sizeof(out->reason), fmt, arg ? arg : "");
}

/* keep only printable ASCII of an HPM-supplied text */
static void sanitize(char *s)
{
	for (; *s; s++)
	{
		if (*s < 0x20 || *s > 0x7e)
		{
			*s = '?';
		}
	}
}

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(char *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		dst[2 * i] = hexdigits[src[i] >> 4];
		dst[2 * i + 1] = hexdigits[src[i] & 0x0f];
	}
	dst[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
	{
		return c - '0';
	}
	if (c >= 'a' && c <= 'f')
	{
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F')
	{
		return c - 'A' + 10;
	}
	return -1;
}

/* decode a hex string of exactly 2*n digits */
static bool from_hex(uint8_t *dst, size_t n, const char *hex)
{
	if (strlen(hex) != 2 * n)
	{
		return false;
	}
	for (size_t i = 0; i < n; i++)
	{
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			return false;
		}
		dst[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

size_t hpm_format_authenticate(char *buf, size_t len, const uint8_t rand[HPM_RAND_LEN],
							   const uint8_t autn[HPM_AUTN_LEN])
{
	char r[2 * HPM_RAND_LEN + 1], a[2 * HPM_AUTN_LEN + 1];
	int n;

	to_hex(r, rand, HPM_RAND_LEN);
	to_hex(a, autn, HPM_AUTN_LEN);
	n = snprintf(buf, len, "{\"op\":\"authenticate\",\"rand\":\"%s\",\"autn\":\"%s\"}\n", r, a);
	if (n < 0 || (size_t)n >= len)
	{
		return 0;
	}
	return (size_t)n;
}

void hpm_answer_wipe(hpm_answer_t *answer)
{
	/* explicit_bzero: not optimised away */
	explicit_bzero(answer, offsetof(hpm_answer_t, reason));
}

/* ------------------------------------------------------------ JSON reader */

typedef struct {
	const char *p;
	const char *end;
} cursor_t;

static void skip_ws(cursor_t *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
	{
		c->p++;
	}
}

static bool eat(cursor_t *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch)
	{
		c->p++;
		return true;
	}
	return false;
}

/*
 * Read a JSON string at the cursor.  Up to outlen-1 characters go to out (if
 * out is not NULL); *fits is false when it was longer.  \uXXXX escapes are
 * validated and stored as '?' (no field we use needs them).
 */
static bool read_string(cursor_t *c, char *out, size_t outlen, bool *fits)
{
	size_t n = 0;

	*fits = true;
	skip_ws(c);
	if (c->p >= c->end || *c->p != '"')
	{
		return false;
	}
	c->p++;
	while (c->p < c->end)
	{
		char ch = *c->p++;

		if (ch == '"')
		{
			if (out)
			{
				out[n] = '\0';
			}
			return true;
		}
		if ((unsigned char)ch < 0x20)
		{
			return false;  /* raw control character */
		}
		if (ch == '\\')
		{
			if (c->p >= c->end)
			{
				return false;
			}
			ch = *c->p++;
			switch (ch)
			{
				case '"': case '\\': case '/':
					break;
				case 'b': ch = '\b'; break;
				case 'f': ch = '\f'; break;
				case 'n': ch = '\n'; break;
				case 'r': ch = '\r'; break;
				case 't': ch = '\t'; break;
				case 'u':
					if (c->end - c->p < 4)
					{
						return false;
					}
					for (int i = 0; i < 4; i++)
					{
						if (hexval(c->p[i]) < 0)
						{
							return false;
						}
					}
					c->p += 4;
					ch = '?';
					break;
				default:
					return false;
			}
		}
		if (out)
		{
			if (n + 1 < outlen)
			{
				out[n++] = ch;
			}
			else
			{
				*fits = false;
			}
		}
	}
	return false;  /* unterminated */
}

static bool read_literal(cursor_t *c, const char *lit)
{
	size_t n = strlen(lit);

	skip_ws(c);
	if ((size_t)(c->end - c->p) >= n && memcmp(c->p, lit, n) == 0)
	{
		c->p += n;
		return true;
	}
	return false;
}

/* skip any JSON value (unknown keys), nesting limited to MAX_DEPTH */
static bool skip_value(cursor_t *c, int depth)
{
	bool fits;

	skip_ws(c);
	if (c->p >= c->end || depth > MAX_DEPTH)
	{
		return false;
	}
	switch (*c->p)
	{
		case '"':
			return read_string(c, NULL, 0, &fits);
		case '{':
			c->p++;
			if (eat(c, '}'))
			{
				return true;
			}
			do
			{
				if (!read_string(c, NULL, 0, &fits) || !eat(c, ':') || !skip_value(c, depth + 1))
				{
					return false;
				}
			}
			while (eat(c, ','));
			return eat(c, '}');
		case '[':
			c->p++;
			if (eat(c, ']'))
			{
				return true;
			}
			do
			{
				if (!skip_value(c, depth + 1))
				{
					return false;
				}
			}
			while (eat(c, ','));
			return eat(c, ']');
		case 't':
			return read_literal(c, "true");
		case 'f':
			return read_literal(c, "false");
		case 'n':
			return read_literal(c, "null");
		default:
		{
			const char *start = c->p;

			while (c->p < c->end && *c->p && strchr("+-0123456789.eE", *c->p))
			{
				c->p++;
			}
			return c->p > start;
		}
	}
}

typedef struct {
	int ok;                 /* -1 absent/not a bool, 0 false, 1 true */
	char error[FIELD_MAX];
	char res[FIELD_MAX];
	char ck[FIELD_MAX];
	char ik[FIELD_MAX];
	char auts[FIELD_MAX];
} reply_t;

/* parse the flat reply object into r; false on any syntax error */
static bool parse_reply(const char *line, size_t len, reply_t *r)
{
	cursor_t c = { .p = line, .end = line + len };
	char key[FIELD_MAX];
	bool fits;

	memset(r, 0, sizeof(*r));
	r->ok = -1;
	if (!eat(&c, '{'))
	{
		return false;
	}
	if (!eat(&c, '}'))
	{
		do
		{
			char *field = NULL;

			if (!read_string(&c, key, sizeof(key), &fits) || !eat(&c, ':'))
			{
				return false;
			}
			if (fits && strcmp(key, "ok") == 0)
			{
				skip_ws(&c);
				if (read_literal(&c, "true"))
				{
					r->ok = 1;
				}
				else if (read_literal(&c, "false"))
				{
					r->ok = 0;
				}
				else
				{
					r->ok = -1;
					if (!skip_value(&c, 1))
					{
						return false;
					}
				}
				continue;
			}
			if (fits)
			{
				if (strcmp(key, "error") == 0) field = r->error;
				else if (strcmp(key, "res") == 0) field = r->res;
				else if (strcmp(key, "ck") == 0) field = r->ck;
				else if (strcmp(key, "ik") == 0) field = r->ik;
				else if (strcmp(key, "auts") == 0) field = r->auts;
			}
			skip_ws(&c);
			if (field && c.p < c.end && *c.p == '"')
			{
				if (!read_string(&c, field, FIELD_MAX, &fits))
				{
					return false;
				}
				if (!fits)
				{
					field[0] = '\0';  /* over-long: treated as invalid below */
				}
			}
			else
			{
				if (field)
				{
					field[0] = '\0';  /* not a string */
				}
				if (!skip_value(&c, 1))
				{
					return false;
				}
			}
		}
		while (eat(&c, ','));
		if (!eat(&c, '}'))
		{
			return false;
		}
	}
	skip_ws(&c);
	return c.p == c.end;  /* nothing but whitespace after the object */
}

hpm_status_t hpm_parse_authenticate(const char *line, size_t len, hpm_answer_t *out)
{
	reply_t r;
	size_t res_hex;

	memset(out, 0, sizeof(*out));
	if (!line || !parse_reply(line, len, &r))
	{
		set_reason(out, "malformed reply (not a flat JSON object)", NULL);
		goto invalid;
	}
	if (r.ok == 1)
	{
		res_hex = strlen(r.res);
		if (res_hex % 2 || res_hex < 2 * HPM_RES_MIN || res_hex > 2 * HPM_RES_MAX ||
			!from_hex(out->res, res_hex / 2, r.res))
		{
			set_reason(out, "reply has no valid \"res\" (8..32 hex digits)", NULL);
			goto invalid;
		}
		out->res_len = res_hex / 2;
		if (!from_hex(out->ck, HPM_CK_LEN, r.ck) || !from_hex(out->ik, HPM_IK_LEN, r.ik))
		{
			set_reason(out, "reply has no valid \"ck\"/\"ik\" (32 hex digits each)", NULL);
			goto invalid;
		}
		explicit_bzero(&r, sizeof(r));
		return HPM_OK;
	}
	if (r.ok != 0)
	{
		set_reason(out, "reply has no boolean \"ok\"", NULL);
		goto invalid;
	}
	if (strcmp(r.error, "sync_failure") == 0)
	{
		if (!from_hex(out->auts, HPM_AUTS_LEN, r.auts))
		{
			set_reason(out, "sync_failure reply without a valid \"auts\" (28 hex digits)", NULL);
			goto invalid;
		}
		set_reason(out, "sync_failure", NULL);
		return HPM_SYNC_FAILURE;
	}
	if (strcmp(r.error, "mac_failure") == 0)
	{
		set_reason(out, "mac_failure", NULL);
		return HPM_MAC_FAILURE;
	}
	if (strcmp(r.error, "no_card") == 0)
	{
		set_reason(out, "no_card", NULL);
		return HPM_NO_CARD;
	}
	sanitize(r.error);
	set_reason(out, "HPM error \"%s\"", r.error[0] ? r.error : "(none given)");

invalid:
	explicit_bzero(&r, sizeof(r));
	hpm_answer_wipe(out);
	return HPM_ERROR;
}

/* ------------------------------------------------------------- socket I/O */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait for events on fd until deadline; >0 ready, 0 timeout, <0 error */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left;
	int rc;

	do
	{
		left = deadline - now_ms();
		if (left <= 0)
		{
			return 0;
		}
		rc = poll(&pfd, 1, (int)left);
	}
	while (rc < 0 && errno == EINTR);
	return rc;
}

static int connect_path(int fd, const char *path, hpm_answer_t *out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int dir_fd = -1, rc;

	if (strlen(path) < sizeof(addr.sun_path))
	{
		memcpy(addr.sun_path, path, strlen(path) + 1);
	}
	else
	{
		/* too long for sun_path: connect via the directory's fd */
		char dir[4096];
		const char *slash = strrchr(path, '/');

		if (!slash || (size_t)(slash - path) >= sizeof(dir))
		{
			set_reason(out, "socket path too long: %s", path);
			return -1;
		}
		memcpy(dir, path, slash - path);
		dir[slash - path] = '\0';
		dir_fd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dir_fd < 0 ||
			snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dir_fd, slash + 1)
				>= (int)sizeof(addr.sun_path))
		{
			if (dir_fd >= 0)
			{
				close(dir_fd);
			}
			set_reason(out, "socket path too long: %s", path);
			return -1;
		}
	}
	rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	if (rc < 0)
	{
		char msg[64];

		snprintf(msg, sizeof(msg), "%s", strerror(errno));
		snprintf(out->reason, sizeof(out->reason), "cannot connect to %.100s: %.63s", path, msg);
	}
	if (dir_fd >= 0)
	{
		close(dir_fd);
	}
	return rc;
}

hpm_status_t hpm_authenticate(const char *socket_path, int timeout_ms,
							  const uint8_t rand[HPM_RAND_LEN], const uint8_t autn[HPM_AUTN_LEN],
							  hpm_answer_t *out)
{
	char request[HPM_REQUEST_LEN], reply[HPM_MAX_LINE];
	long long deadline;
	size_t req_len, sent = 0, got = 0;
	struct timeval tv;
	char *nl = NULL;
	int fd;

	memset(out, 0, sizeof(*out));
	if (timeout_ms <= 0)
	{
		timeout_ms = 1;  /* never block without a bound (a zero SO_SNDTIMEO means "forever") */
	}
	deadline = now_ms() + timeout_ms;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (!socket_path || !*socket_path)
	{
		set_reason(out, "no HPM socket configured", NULL);
		return HPM_ERROR;
	}
	req_len = hpm_format_authenticate(request, sizeof(request), rand, autn);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		set_reason(out, "socket(): %s", strerror(errno));
		return HPM_ERROR;
	}
	/* bounds a blocking connect() to a listener with a full backlog */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect_path(fd, socket_path, out) < 0)
	{
		close(fd);
		return HPM_ERROR;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
	{
		set_reason(out, "fcntl(): %s", strerror(errno));
		close(fd);
		return HPM_ERROR;
	}
	while (sent < req_len)
	{
		ssize_t n;

		if (wait_fd(fd, POLLOUT, deadline) <= 0)
		{
			set_reason(out, "timeout sending the request to %.100s", socket_path);
			goto fail;
		}
		n = send(fd, request + sent, req_len - sent, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
		{
			set_reason(out, "send(): %s", strerror(errno));
			goto fail;
		}
		sent += n > 0 ? (size_t)n : 0;
	}
	while (!nl)
	{
		ssize_t n;

		if (got >= sizeof(reply) - 1)
		{
			set_reason(out, "reply longer than %s bytes", "4095");
			goto fail;
		}
		if (wait_fd(fd, POLLIN, deadline) <= 0)
		{
			set_reason(out, "no reply from %.100s within the timeout", socket_path);
			goto fail;
		}
		n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
		if (n == 0)
		{
			set_reason(out, "HPM closed the connection without a complete reply", NULL);
			goto fail;
		}
		if (n < 0)
		{
			if (errno == EAGAIN || errno == EINTR)
			{
				continue;
			}
			set_reason(out, "recv(): %s", strerror(errno));
			goto fail;
		}
		nl = memchr(reply + got, '\n', (size_t)n);
		got += (size_t)n;
	}
	close(fd);
	{
		hpm_status_t status = hpm_parse_authenticate(reply, (size_t)(nl - reply), out);

		explicit_bzero(reply, sizeof(reply));
		return status;
	}

fail:
	close(fd);
	explicit_bzero(reply, sizeof(reply));
	return HPM_ERROR;
}
