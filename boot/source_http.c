// SPDX-License-Identifier: MIT
/*
 * A boot_source on the web server keel.efi was HTTP-booted from, through the
 * firmware's own HTTP client (EFI_HTTP_PROTOCOL, made by the NIC's HTTP
 * service binding). When the firmware HTTP-boots an image, the device path
 * of the image's device ends in a URI node holding the URL it fetched
 * ("http://10.0.2.100/x86_64/keel.efi"); keel.cfg and the paths in it are
 * read from that URL's directory on the same server.
 *
 * A file's size comes first (a HEAD request's Content-Length), so the
 * buffer is allocated once; a body that ends short of it, or a GET whose
 * length differs from the HEAD's, is a truncated or changed file. Each
 * request gets its own HTTP child, so a server that closes the connection
 * after every answer (Python's http.server) costs nothing.
 */
#include <arch/types.h>
#include <keel/lib.h>

#include "config.h"
#include "loader.h"
#include "source.h"

#define HTTP_URL_MAX 256u
#define HTTP_LARGE (4u << 20) /* files at least this big are announced before the transfer */
#define HTTP_CHUNK (1u << 20) /* bytes asked for per Response() call */
#define HTTP_WAIT_100NS (30ull * 10000000ull) /* 30 s without progress: the server is gone */

/* UEFI 2.9 section 29.6: the HTTP protocol's types, as the firmware lays them out. */
#define HTTP_VERSION_11 1u
#define HTTP_METHOD_GET 0u
#define HTTP_METHOD_HEAD 5u
#define HTTP_STATUS_200_OK 3u
#define HTTP_STATUS_404_NOT_FOUND 21u

struct efi_httpv4_access_point {
	BOOLEAN use_default_address;
	EFI_IPv4_ADDRESS local_address, local_subnet;
	UINT16 local_port;
};

struct efi_http_config_data {
	UINT32 http_version;
	UINT32 timeout_ms;
	BOOLEAN local_address_is_ipv6;
	struct efi_httpv4_access_point *ipv4_node;
};

struct efi_http_request_data {
	UINT32 method;
	CHAR16 *url;
};

struct efi_http_response_data {
	UINT32 status_code;
};

struct efi_http_header {
	CHAR8 *field_name;
	CHAR8 *field_value;
};

struct efi_http_message {
	void *data; /* struct efi_http_request_data * or struct efi_http_response_data * */
	UINTN header_count;
	struct efi_http_header *headers;
	UINTN body_length;
	void *body;
};

struct efi_http_token {
	EFI_EVENT event;
	EFI_STATUS status;
	struct efi_http_message *message;
};

struct efi_http;
typedef EFI_STATUS(EFIAPI *efi_http_get_mode_fn)(struct efi_http *self,
						 struct efi_http_config_data *cfg);
typedef EFI_STATUS(EFIAPI *efi_http_configure_fn)(struct efi_http *self,
						  struct efi_http_config_data *cfg);
typedef EFI_STATUS(EFIAPI *efi_http_token_fn)(struct efi_http *self, struct efi_http_token *token);
typedef EFI_STATUS(EFIAPI *efi_http_poll_fn)(struct efi_http *self);

struct efi_http {
	efi_http_get_mode_fn get_mode_data;
	efi_http_configure_fn configure;
	efi_http_token_fn request;
	efi_http_token_fn cancel;
	efi_http_token_fn response;
	efi_http_poll_fn poll;
};

struct efi_service_binding;
typedef EFI_STATUS(EFIAPI *efi_sb_create_fn)(struct efi_service_binding *self, EFI_HANDLE *child);
typedef EFI_STATUS(EFIAPI *efi_sb_destroy_fn)(struct efi_service_binding *self, EFI_HANDLE child);

struct efi_service_binding {
	efi_sb_create_fn create_child;
	efi_sb_destroy_fn destroy_child;
};

static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static EFI_GUID device_path_guid = EFI_DEVICE_PATH_PROTOCOL_GUID;
static EFI_GUID http_sb_guid = {
	0xbdc8e6af, 0xd9bc, 0x4379, { 0xa7, 0x2a, 0xe0, 0xc4, 0xe7, 0x5d, 0xae, 0x1c }
};
static EFI_GUID http_guid = {
	0x7a59b29b, 0x910b, 0x4171, { 0x82, 0x42, 0xa8, 0x5a, 0x0d, 0xf2, 0x5b, 0x5b }
};

/* The server part of the boot URL ("http://10.0.2.100:8080/") and its authority. */
static char http_base[HTTP_URL_MAX], http_host[HTTP_URL_MAX];
static struct efi_service_binding *http_sb;
/*
 * Our address: the firmware's HTTP boot configured its own child with the
 * address DHCP gave it (not the NIC's default address) and wrote it into
 * the IPv4 node of the boot device's path. Zero: the NIC's default.
 */
static struct efi_httpv4_access_point http_local;

/* One request's state: its HTTP child and the events it waits on. */
struct http_call {
	EFI_HANDLE child;
	struct efi_http *http;
	EFI_EVENT done, timer;
};

/* @src's base URL + dir + @path ('\' -> '/', a leading separator dropped), as CHAR16. */
static bool http_url(const struct boot_source *src, const char *path, CHAR16 *out, char *shown)
{
	size_t n = strnlen(path, CFG_PATH_MAX), at = 0;
	const char *parts[3] = { http_base, src->dir, path };

	if (n == CFG_PATH_MAX)
		return false;
	if (n && (path[0] == '/' || path[0] == '\\'))
		parts[2] = path + 1;
	for (u32 p = 0; p < 3; p++)
		for (const char *c = parts[p]; *c; c++) {
			if (at + 1 >= HTTP_URL_MAX)
				return false;
			/* Bytes that would change the request line are not sent at all. */
			if (*c <= 0x20 || *c > 0x7e)
				return false;
			shown[at] = *c == '\\' ? '/' : *c;
			out[at] = (CHAR16)(u8)shown[at];
			at++;
		}
	shown[at] = 0;
	out[at] = 0;
	return true;
}

static void http_call_end(struct http_call *c)
{
	if (c->http)
		c->http->configure(c->http, NULL);
	if (c->child)
		http_sb->destroy_child(http_sb, c->child);
	if (c->done)
		efi_bs->CloseEvent(c->done);
	if (c->timer)
		efi_bs->CloseEvent(c->timer);
	memset(c, 0, sizeof(*c));
}

static EFI_STATUS http_call_begin(struct http_call *c)
{
	struct efi_httpv4_access_point ap = http_local;
	struct efi_http_config_data cfg = {
		.http_version = HTTP_VERSION_11,
		.ipv4_node = &ap,
	};
	EFI_STATUS st;

	memset(c, 0, sizeof(*c));
	st = http_sb->create_child(http_sb, &c->child);
	if (!EFI_ERROR(st))
		st = efi_bs->HandleProtocol(c->child, &http_guid, (void **)&c->http);
	if (!EFI_ERROR(st))
		st = c->http->configure(c->http, &cfg);
	if (!EFI_ERROR(st))
		st = efi_bs->CreateEvent(0, 0, NULL, NULL, &c->done);
	if (!EFI_ERROR(st))
		st = efi_bs->CreateEvent(EVT_TIMER, 0, NULL, NULL, &c->timer);
	if (EFI_ERROR(st)) {
		http_call_end(c);
	}
	return st;
}

/* Poll until @token completes or 30 s pass without it. */
static EFI_STATUS http_wait(struct http_call *c, struct efi_http_token *token)
{
	EFI_STATUS st = efi_bs->SetTimer(c->timer, TimerRelative, HTTP_WAIT_100NS);

	if (EFI_ERROR(st))
		return st;
	for (;;) {
		c->http->poll(c->http);
		if (efi_bs->CheckEvent(c->done) == EFI_SUCCESS)
			return token->status;
		if (efi_bs->CheckEvent(c->timer) == EFI_SUCCESS) {
			c->http->cancel(c->http, token);
			return EFI_TIMEOUT;
		}
	}
}

static bool http_name_is(const CHAR8 *name, const char *want)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		char a = (char)name[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (a != want[i])
			return false;
	}
	return name[i] == 0;
}

/* Content-Length from the answer's headers (freed here); false if there is none. */
static bool http_content_length(struct efi_http_message *m, u64 *len)
{
	bool found = false;

	for (UINTN i = 0; i < m->header_count && m->headers; i++) {
		const CHAR8 *v = m->headers[i].field_value;
		u64 n = 0;

		if (!found && m->headers[i].field_name && v &&
		    http_name_is(m->headers[i].field_name, "content-length") && *v) {
			found = true;
			for (; *v; v++) {
				if (*v < '0' || *v > '9' || n > (~0ull - 9) / 10) {
					found = false;
					break;
				}
				n = n * 10 + (u64)(*v - '0');
			}
			*len = n;
		}
		if (m->headers[i].field_name)
			efi_bs->FreePool(m->headers[i].field_name);
		if (v)
			efi_bs->FreePool(m->headers[i].field_value);
	}
	if (m->headers)
		efi_bs->FreePool(m->headers);
	m->headers = NULL;
	m->header_count = 0;
	return found;
}

/* A status other than 200: 404 is EFI_NOT_FOUND, any other the server's number in src->error. */
static EFI_STATUS http_status(struct boot_source *src, u32 code)
{
	static const u16 numbers[] = { 0,   100, 101, 200, 201, 202, 203, 204, 205, 206, 300,
				       301, 302, 303, 304, 305, 307, 400, 401, 402, 403, 404,
				       405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
				       416, 417, 500, 501, 502, 503, 504, 505, 308 };

	if (code == HTTP_STATUS_200_OK)
		return EFI_SUCCESS;
	if (code == HTTP_STATUS_404_NOT_FOUND)
		return EFI_NOT_FOUND;
	if (code < ARRAY_SIZE(numbers) && numbers[code])
		snprintf(src->error, sizeof(src->error), "the server answered HTTP %u",
			 numbers[code]);
	else
		snprintf(src->error, sizeof(src->error), "the server's answer has no HTTP status");
	return EFI_PROTOCOL_ERROR;
}

/*
 * Send @method for @path and take the answer's status and headers, with
 * up to @room bytes of its body into @body (*@got: how many). *@len is the
 * Content-Length.
 */
static EFI_STATUS http_ask(struct boot_source *src, struct http_call *c, u32 method,
			   const char *path, u64 *len, void *body, u64 room, u64 *got)
{
	CHAR16 url[HTTP_URL_MAX];
	char shown[HTTP_URL_MAX];
	struct efi_http_header hdr[3] = {
		{ (CHAR8 *)"Host", (CHAR8 *)http_host },
		{ (CHAR8 *)"User-Agent", (CHAR8 *)"keel-loader" },
		{ (CHAR8 *)"Accept", (CHAR8 *)"*/*" },
	};
	struct efi_http_request_data req = { .method = method, .url = url };
	struct efi_http_response_data resp = { 0 };
	struct efi_http_message m = { .data = &req, .header_count = 3, .headers = hdr };
	struct efi_http_token t = { .message = &m };
	EFI_STATUS st;

	src->error[0] = 0;
	if (!http_url(src, path, url, shown))
		return EFI_INVALID_PARAMETER;
	t.event = c->done;
	st = c->http->request(c->http, &t);
	if (!EFI_ERROR(st))
		st = http_wait(c, &t);
	if (EFI_ERROR(st))
		return st;
	/* CheckEvent cleared c->done: it serves the answer too. */
	m = (struct efi_http_message){ .data = &resp, .body = body, .body_length = room };
	st = c->http->response(c->http, &t);
	if (!EFI_ERROR(st))
		st = http_wait(c, &t);
	/* The firmware may answer EFI_HTTP_ERROR for a 4xx or 5xx: the status says which. */
	if (st == EFIERR(35) && resp.status_code != HTTP_STATUS_200_OK) {
		http_content_length(&m, len);
		return http_status(src, resp.status_code);
	}
	if (EFI_ERROR(st)) {
		http_content_length(&m, len);
		return st;
	}
	*got = m.body_length;
	if (!http_content_length(&m, len) && resp.status_code == HTTP_STATUS_200_OK) {
		snprintf(src->error, sizeof(src->error),
			 "the server's answer for %s has no Content-Length", shown);
		return EFI_PROTOCOL_ERROR;
	}
	return http_status(src, resp.status_code);
}

static EFI_STATUS http_size(struct boot_source *src, const char *path, u64 *size)
{
	struct http_call c;
	EFI_STATUS st = http_call_begin(&c);
	u64 got = 0;

	if (!EFI_ERROR(st))
		st = http_ask(src, &c, HTTP_METHOD_HEAD, path, size, NULL, 0, &got);
	http_call_end(&c);
	return st;
}

/* More of the body: up to @room bytes into @body, *@got of them. */
static EFI_STATUS http_more(struct http_call *c, void *body, u64 room, u64 *got)
{
	struct efi_http_message m = { .body = body, .body_length = room };
	struct efi_http_token t = { .event = c->done, .message = &m };
	EFI_STATUS st;

	st = c->http->response(c->http, &t);
	if (!EFI_ERROR(st))
		st = http_wait(c, &t);
	*got = EFI_ERROR(st) ? 0 : m.body_length;
	return st;
}

static EFI_STATUS http_read(struct boot_source *src, const char *path, void *buf, u64 size,
			    struct sha256 *hash)
{
	u64 len = 0, got = 0, at, step;
	struct http_call c;
	EFI_STATUS st;

	if (size >= HTTP_LARGE)
		efi_printf("keel: loader: fetching %s (%llu KiB) from %s ...\n", path,
			   (unsigned long long)(size >> 10), src->where);
	st = http_call_begin(&c);
	if (!EFI_ERROR(st))
		st = http_ask(src, &c, HTTP_METHOD_GET, path, &len, buf, MIN(size, HTTP_CHUNK),
			      &got);
	/* A length other than the size asked for first: the file changed in between. */
	if (!EFI_ERROR(st) && len != size)
		st = EFI_END_OF_FILE;
	for (at = 0; !EFI_ERROR(st); at += step) {
		step = MIN(got, size - at);
		sha256_update(hash, (u8 *)buf + at, step);
		if (at + step == size)
			break;
		if (!got) {
			st = EFI_END_OF_FILE; /* the connection ended before the body did */
			break;
		}
		st = http_more(&c, (u8 *)buf + at + step, MIN(size - at - step, HTTP_CHUNK), &got);
		if (st == EFIERR(104) || st == EFIERR(105)) /* CONNECTION_FIN, CONNECTION_RESET */
			st = EFI_END_OF_FILE;
	}
	http_call_end(&c);
	return st;
}

static void http_close(struct boot_source *src)
{
	http_sb = NULL;
}

/* Our address and subnet from an IPv4 device path node (UEFI 2.9 section 10.3.5.12). */
static void http_take_ipv4(const EFI_DEVICE_PATH *node, u16 len)
{
	const u8 *n = (const u8 *)node;

	memset(&http_local, 0, sizeof(http_local));
	if (len < 27 || !(n[4] | n[5] | n[6] | n[7]))
		return;
	memcpy(&http_local.local_address, n + 4, 4);
	memcpy(&http_local.local_subnet, n + 23, 4);
}

/*
 * The URI node of @dp, or NULL; *@ipv6 says whether an IPv6 node came
 * before it, and an IPv4 node before it gives our address (http_local).
 */
static const EFI_DEVICE_PATH *http_uri_node(const EFI_DEVICE_PATH *dp, bool *ipv6)
{
	for (u32 guard = 0; guard < 64 && dp->Type != END_DEVICE_PATH_TYPE; guard++) {
		u16 len = (u16)(dp->Length[0] | dp->Length[1] << 8);

		if (len < 4)
			return NULL;
		if (dp->Type == MESSAGING_DEVICE_PATH && dp->SubType == MSG_IPv6_DP)
			*ipv6 = true;
		if (dp->Type == MESSAGING_DEVICE_PATH && dp->SubType == MSG_IPv4_DP)
			http_take_ipv4(dp, len);
		if (dp->Type == MESSAGING_DEVICE_PATH && dp->SubType == MSG_URI_DP && len > 4)
			return dp;
		dp = (const EFI_DEVICE_PATH *)((const u8 *)dp + len);
	}
	return NULL;
}

/*
 * Split @url ("http://host[:port]/dir/keel.efi") into http_base
 * ("http://host[:port]/"), http_host and @src's dir ("dir/"). False with a
 * message if it cannot be followed.
 */
static bool http_split(struct boot_source *src, const char *url)
{
	size_t n = strnlen(url, HTTP_URL_MAX), scheme, slash, last = 0, i;

	if (n >= HTTP_URL_MAX) {
		efi_printf("keel: loader: error: the boot URL is longer than %u bytes\n",
			   HTTP_URL_MAX - 1);
		return false;
	}
	scheme = !strncmp(url, "http://", 7) ? 7 : !strncmp(url, "https://", 8) ? 8 : 0;
	for (slash = scheme; scheme && slash < n && url[slash] != '/'; slash++)
		;
	if (!scheme || slash == scheme || slash == n) {
		efi_printf("keel: loader: error: cannot follow the boot URL '%s'\n", url);
		return false;
	}
	for (i = slash + 1; i < n; i++)
		if (url[i] == '/')
			last = i + 1;
	last = last ? last - slash - 1 : 0;
	if (last >= SOURCE_DIR_MAX) {
		efi_printf("keel: loader: error: the boot file's directory is longer than %u "
			   "bytes\n",
			   SOURCE_DIR_MAX - 1);
		return false;
	}
	memcpy(http_base, url, slash + 1);
	http_base[slash + 1] = 0;
	memcpy(http_host, url + scheme, slash - scheme);
	http_host[slash - scheme] = 0;
	memcpy(src->dir, url + slash + 1, last);
	src->dir[last] = 0;
	return true;
}

bool source_http_open(struct boot_source *src)
{
	EFI_DEVICE_PATH *dp, *rest;
	const EFI_DEVICE_PATH *uri;
	char url[HTTP_URL_MAX];
	EFI_LOADED_IMAGE *li;
	EFI_HANDLE nic;
	bool ipv6 = false;
	size_t n;

	memset(src, 0, sizeof(*src));
	if (EFI_ERROR(efi_bs->HandleProtocol(efi_image, &loaded_image_guid, (void **)&li)) ||
	    EFI_ERROR(efi_bs->HandleProtocol(li->DeviceHandle, &device_path_guid, (void **)&dp)))
		return false;
	uri = http_uri_node(dp, &ipv6);
	http_local.use_default_address =
		!http_local.local_address.Addr[0] && !http_local.local_address.Addr[1] &&
		!http_local.local_address.Addr[2] && !http_local.local_address.Addr[3];
	if (!uri)
		return false;
	n = (size_t)(uri->Length[0] | uri->Length[1] << 8) - 4;
	if (n >= HTTP_URL_MAX) {
		efi_printf("keel: loader: error: the boot URL is longer than %u bytes\n",
			   HTTP_URL_MAX - 1);
		return false;
	}
	memcpy(url, (const u8 *)uri + 4, n);
	url[n] = 0;
	for (size_t i = 0; i < n; i++) /* the console gets no control bytes */
		if (url[i] && (url[i] < 0x20 || url[i] > 0x7e))
			url[i] = '?';
	if (ipv6) {
		efi_printf("keel: loader: error: network boot over IPv6 is not supported (%s)\n",
			   url);
		return false;
	}
	if (!http_split(src, url))
		return false;
	rest = dp;
	if (EFI_ERROR(efi_bs->LocateDevicePath(&http_sb_guid, &rest, &nic)) ||
	    EFI_ERROR(efi_bs->HandleProtocol(nic, &http_sb_guid, (void **)&http_sb))) {
		efi_printf("keel: loader: error: HTTP-booted from %s, but the firmware offers no "
			   "HTTP client on that NIC\n",
			   url);
		return false;
	}
	snprintf(src->where, sizeof(src->where), "%s%s", http_base, src->dir);
	src->size = http_size;
	src->read = http_read;
	src->close = http_close;
	src->network = true;
	return true;
}
