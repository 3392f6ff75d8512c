/*
 * stream.h -- one non-blocking byte-stream connection: a read buffer, a
 * framing callback, a bounded write queue flushed on writability, and
 * close-after-send.  The flow-manager's TCP flows and the
 * registrar-bridge's core connections both run on it.
 *
 * Input is read into one scratch buffer shared by every stream of a
 * class and handed from there to the class's framing callback, which
 * says how many bytes it used.  Only an unused tail is copied into the
 * stream's own buffer, freed as soon as it is empty: an idle stream holds
 * no buffer at all (the flow-manager keeps 100,000 idle flows).  Output
 * goes out at once while nothing waits; what the socket does not take is
 * queued, in order, and written when it becomes writable.
 *
 * The stream never closes or frees itself.  Every call that can end it
 * returns why (enum stream_result), and its owner closes it with its own
 * reason and log line.  A framing callback may close and free the stream
 * it was handed; it then returns -1 and the stream layer touches nothing
 * more.  The owner embeds the struct stream in its own record and gets
 * back to it with STREAM_OWNER().
 *
 * THE TRANSPORT SEAM.  The stream reads and writes bytes only through
 * its `struct stream_transport`, a small table of functions: read,
 * write, shutdown (our side is done: FIN) and close.  stream_socket is
 * the plain TCP socket.  A TLS or WebSocket transport plugs in there,
 * under the framing callback and the flow logic, which do not change:
 *   - read returns plaintext (TLS) or the payload of data frames
 *     (WebSocket; control frames it answers itself), -1 with EAGAIN when
 *     no whole record or frame is in yet;
 *   - write takes plaintext; after EAGAIN the stream offers the same
 *     bytes again, which is what TLS libraries ask for;
 *   - shutdown sends close_notify or a Close frame before the FIN;
 *   - its own state (the TLS session) hangs off s->tr_state, so a plain
 *     flow pays one pointer for it;
 *   - two optional entries, NULL for a plain socket, which then behaves
 *     as if they did not exist: `pending` says the transport holds input
 *     it already took off the socket (the rest of a decrypted record),
 *     which epoll will never report, so the read goes on past its
 *     per-wakeup budget and a resumed stream is called again; `wants`
 *     says its last read is waiting for the socket to become writable
 *     (a handshake message that did not fit) or its last write for input
 *     (the peer's next handshake message), so the stream waits for that
 *     event too and retries the read on EPOLLOUT, the write on EPOLLIN.
 *
 * Nothing here logs or counts: the class's callbacks do (did_read,
 * did_write), so each owner keeps its own counters.  Nothing is fatal.
 */
#ifndef EPSIP_STREAM_H
#define EPSIP_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "epsip/loop.h"

struct stream;

struct stream_transport {
	const char *name;
	/* Like recv(2) without blocking: bytes, 0 at the peer's end, -1 and
	 * errno (EAGAIN: nothing now). */
	ssize_t (*read)(struct stream *s, void *buf, size_t len);
	/* Like send(2) without blocking or SIGPIPE: bytes taken, or -1 and
	 * errno (EAGAIN: none now). */
	ssize_t (*write)(struct stream *s, const void *buf, size_t len);
	/* Nothing more will be written: FIN. */
	void (*shutdown)(struct stream *s);
	void (*close)(struct stream *s);
	/*
	 * Optional.  1 when the transport holds input already taken off the
	 * socket (TLS: the rest of a record, SSL_has_pending()): epoll will
	 * not report it, so stream_read() reads on past its per-wakeup
	 * budget while this is 1, and stream_resume() has the loop call the
	 * stream's callback again (loop_fd_again()).  A transport bounds it
	 * (TLS: one record, no read-ahead), or one peer could hold the loop.
	 */
	int (*pending)(const struct stream *s);
	/*
	 * Optional.  What the transport's last read and write are waiting
	 * for besides the obvious: EPOLLOUT, its read must first write (a
	 * TLS handshake or post-handshake message the socket did not take);
	 * EPOLLIN, its write must first read (the peer's next handshake
	 * message).  The stream then also waits for EPOLLOUT while it reads,
	 * and retries the read when it comes; and waits for EPOLLIN instead
	 * of EPOLLOUT while output is queued (the socket is writable: waiting
	 * for that would spin), and retries the write when input comes.
	 * Asked after every read, write and flush, so a transport changes it
	 * only from inside those.
	 */
	uint32_t (*wants)(const struct stream *s);
};

/* A plain socket, s->fd. */
extern const struct stream_transport stream_socket;

/* One queued piece of output: a whole message, or what is left of it. */
struct stream_chunk {
	STAILQ_ENTRY(stream_chunk) entry;
	size_t len;
	size_t off;			/* bytes already written */
	char data[];
};
STAILQ_HEAD(stream_queue, stream_chunk);

/* What the streams of one owner share. */
struct stream_class {
	struct loop *loop;
	/*
	 * Hand what `buf` holds on: return the bytes used (what is left is
	 * kept and offered again, with more, after the next read), or -1 if
	 * the callback closed and freed the stream.  It may send on the
	 * stream, pause it or stop its reading.
	 */
	ssize_t (*frame)(struct stream *s, const char *buf, size_t len);
	/* After every read and write of n > 0 bytes; must not close. */
	void (*did_read)(struct stream *s, size_t n);
	void (*did_write)(struct stream *s, size_t n);
	uint32_t read_events;		/* EPOLLIN, maybe with EPOLLRDHUP */
	size_t input_max;		/* unframed input held at most */
	size_t queue_max;		/* output queued at most, in bytes */
	char *scratch;			/* input_max bytes: one read's worth */
};

/*
 * Embedded in its owner's record.  Lengths are 32-bit and the flags one
 * byte: the flow-manager holds this once per idle flow.
 */
struct stream {
	const struct stream_class *cls;
	const struct stream_transport *tr;
	void *tr_state;			/* the transport's (TLS: its SSL) */
	int fd;
	uint32_t events;		/* epoll interest now registered */
	char *rbuf;			/* unframed input; NULL while empty */
	uint32_t rlen, rcap;
	struct stream_queue wq;		/* output waiting for the socket */
	uint32_t wq_bytes;
	uint8_t flags;
};

/* A stream's state, in s->flags: its owner reads it, stream.c sets it. */
#define STREAM_F_STOPPED	0x01	/* read nothing more */
#define STREAM_F_PAUSED		0x02	/* read nothing for now */
#define STREAM_F_CLOSING	0x04	/* close once the queue is out */
#define STREAM_F_DRAINING	0x08	/* FIN sent: discard input until EOF */
#define STREAM_F_CONNECTING	0x10	/* output waits for the connect */
#define STREAM_F_IN_FRAME	0x20	/* inside the framing callback */

#define STREAM_OWNER(s, type, member) \
	((type *)(void *)((char *)(s) - offsetof(type, member)))

enum stream_result {
	STREAM_OK,
	STREAM_GONE,		/* the framing callback closed the stream */
	STREAM_EOF,		/* the peer closed, or hung up */
	STREAM_ERROR,		/* the transport failed (errno) */
	STREAM_INPUT_FULL,	/* input_max bytes held, no whole unit in them */
	STREAM_QUEUE_FULL,	/* send: past queue_max; nothing was sent */
	STREAM_NOMEM,		/* no memory; send: nothing was sent */
	STREAM_CUT,		/* send: part went out, the rest could not be
				 * queued: the message is cut */
};

/* A class with its scratch buffer; 0, or -1 (no memory). */
int stream_class_init(struct stream_class *cls, struct loop *loop,
    size_t input_max, size_t queue_max);
void stream_class_free(struct stream_class *cls);

/*
 * A stream on `fd`, not yet watched.  `connecting`: a connect is under
 * way; output is queued until stream_connected().
 */
void stream_init(struct stream *s, const struct stream_class *cls,
    const struct stream_transport *tr, int fd, int connecting);
/* Register with the class's loop for what the stream wants; 0 or -1. */
int stream_watch(struct stream *s, loop_fd_cb cb, void *arg);
/* Unwatch, close the transport, free the buffer and the queue. */
void stream_release(struct stream *s);

/*
 * What the loop reported: flush on EPOLLOUT, then read and frame while
 * reading; a stream that does not read learns only of a hang-up
 * (STREAM_EOF) or an error (STREAM_ERROR).
 */
enum stream_result stream_io(struct stream *s, uint32_t events);
/* Write what is queued, until the socket takes no more. */
enum stream_result stream_flush(struct stream *s);
/*
 * Send one whole message, or queue what the socket does not take now.
 * STREAM_QUEUE_FULL and STREAM_NOMEM leave the stream as it was.
 */
enum stream_result stream_send(struct stream *s, const void *buf,
    size_t len);
/*
 * Close after send: read nothing more, write what is queued, then send
 * FIN and read and discard until the peer's, so that unread input does
 * not turn the close into a RST that destroys the last answer.
 */
enum stream_result stream_finish(struct stream *s);

/* Read nothing more (framing is lost); drops what waits unframed. */
void stream_stop_reading(struct stream *s);
/*
 * Stop reading for now; what waits unframed is kept (TCP's window then
 * slows the peer).  stream_resume() frames it again and reads on.
 */
void stream_pause(struct stream *s);
enum stream_result stream_resume(struct stream *s);
/* The connect finished: output may leave (call stream_flush()). */
void stream_connected(struct stream *s);
/*
 * Move every queued chunk to the end of `to`, in order; how many.  For
 * a stream that never connected, each chunk is one whole message.
 */
size_t stream_take_queue(struct stream *s, struct stream_queue *to);
/* A chunk holding a copy of buf; NULL without memory. */
struct stream_chunk *stream_chunk_new(const void *buf, size_t len);
/* Free every chunk of `q`, which is left empty. */
void stream_chunks_free(struct stream_queue *q);

/* Input is being framed: not stopped, not paused. */
int stream_framing(const struct stream *s);

#endif /* EPSIP_STREAM_H */
