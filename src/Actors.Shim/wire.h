/* The wire protocol, version 1 (docs: shared design wire-protocol.md). Frame layout and kinds only;
 * shared by the shim and the test server so both speak the same bytes. */
#ifndef IOMMUFD_WIRE_H
#define IOMMUFD_WIRE_H

#include <stdint.h>
#include <string.h>

#define WIRE_VERSION		1u
/* u32 length, u16 kind, u16 flags, u64 seq; length counts everything after itself. */
#define WIRE_HEADER_LEN		16u
#define WIRE_FLAG_REPLY		0x1u

enum wire_kind {
	WIRE_HELLO	= 0x01,
	WIRE_OPEN	= 0x02,
	WIRE_CLOSE	= 0x03,
	WIRE_IOCTL	= 0x04,
	WIRE_READ	= 0x05,
	WIRE_WRITE	= 0x06,
	WIRE_DUP	= 0x07,
	WIRE_MEM_READ	= 0x21,
	WIRE_MEM_WRITE	= 0x22,
	WIRE_NEW_FD	= 0x23,
	WIRE_FD_READY	= 0x24,
	/* Project extension (docs/wire-extensions.md), server to client: u64 addr, u64 len, u32 flags;
	 * reply i32 errno: can every page of the range be pinned now (flag 1: for writing)? */
	WIRE_EXT_MEM_CHECK = 0x800a,
};
#define WIRE_MEM_CHECK_WRITE	0x1u

/* Little-endian helpers; the machines we run on are little-endian but the protocol says so
 * explicitly, so the bytes are put one by one. */
static inline void wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static inline void wire_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t wire_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Fills the 16 header bytes of a frame whose body is body_len bytes long. */
static inline void wire_header(uint8_t *h, uint32_t body_len, uint16_t kind, uint16_t flags,
			       uint64_t seq)
{
	wire_put32(h, body_len + WIRE_HEADER_LEN - 4);
	wire_put16(h + 4, kind);
	wire_put16(h + 6, flags);
	wire_put64(h + 8, seq);
}

#endif
