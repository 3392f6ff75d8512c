// What both phone pages share: the state the page shows and the driver
// reads (window.phone), a log of events, a trace of every SIP message that
// crossed the page's WebSocket, and the watch on an RTCPeerConnection.
//
// The trace wraps the page's WebSocket class before the library makes its
// socket, so it holds exactly the text frames the browser sent and
// received: what crossed the wire as far as a page can see it.

const T0 = performance.now();
const MAX_TRACE = 200;

export function params() {
	const q = new URLSearchParams(location.search);
	return {
		wss: q.get('wss'),
		aor: q.get('aor'),
		target: q.get('target') || '',
		password: q.get('password') || '',
	};
}

export function makePhone(lib, version, aor) {
	const phone = {
		lib,
		version,
		aor,
		state: {
			transport: 'connecting',
			registration: 'unregistered',
			call: 'idle',
			ice: '-',
		},
		events: [],
		trace: [],
		pc: null,
		// Filled in by the library's page: actions the buttons (and the
		// driver, through the buttons) take.
		actions: {},
	};
	phone.record = (what, detail = {}) => {
		const t = Math.round(performance.now() - T0);
		phone.events.push({ t, what, ...detail });
		render(phone);
	};
	phone.set = (key, value) => {
		phone.state[key] = value;
		render(phone);
	};
	window.phone = phone;
	traceWebSocket(phone);
	document.getElementById('title').textContent = `${lib} ${version}`;
	document.getElementById('aor').textContent = aor;
	for (const name of ['call', 'answer', 'hangup']) {
		document.getElementById(name).addEventListener('click', () => {
			try {
				phone.actions[name]();
			} catch (e) {
				phone.record('error', { action: name, message: String(e) });
			}
		});
	}
	window.addEventListener('error', (e) =>
		phone.record('error', { message: String(e.message) }));
	window.addEventListener('unhandledrejection', (e) =>
		phone.record('error', { message: String(e.reason) }));
	render(phone);
	return phone;
}

function traceWebSocket(phone) {
	const Native = window.WebSocket;
	const keep = (dir, data) => {
		if (phone.trace.length < MAX_TRACE && typeof data === 'string')
			phone.trace.push({ t: Math.round(performance.now() - T0), dir,
			    text: data });
	};
	class TracedWebSocket extends Native {
		constructor(url, protocols) {
			super(url, protocols);
			phone.record('websocket', { url: String(url),
			    protocols: [].concat(protocols || []) });
			this.addEventListener('message', (e) => keep('in', e.data));
			this.addEventListener('open', () => phone.record(
			    'websocket open', { protocol: this.protocol }));
			this.addEventListener('close', (e) => phone.record(
			    'websocket close', { code: e.code, reason: e.reason }));
		}
		send(data) {
			keep('out', data);
			super.send(data);
		}
	}
	window.WebSocket = TracedWebSocket;
}

// The ICE and connection states of a call's peer connection, as events;
// the remote audio goes to the page's <audio>.
export function watchPeerConnection(phone, pc) {
	if (!pc || phone.pc === pc)
		return;
	phone.pc = pc;
	phone.record('peerconnection');
	const ice = () => {
		phone.record('ice', { state: pc.iceConnectionState });
		phone.set('ice', pc.iceConnectionState);
	};
	pc.addEventListener('iceconnectionstatechange', ice);
	pc.addEventListener('connectionstatechange', () =>
		phone.record('connection', { state: pc.connectionState }));
	pc.addEventListener('track', (e) => {
		const audio = document.getElementById('remote');
		audio.srcObject = e.streams[0] || new MediaStream([e.track]);
		audio.play().catch(() => {});
	});
	ice();
}

// What RTP the call's peer connection carried: the nominated candidate
// pair's addresses and the audio packets each way.
export async function mediaStats(phone) {
	if (!phone.pc)
		return null;
	const stats = await phone.pc.getStats();
	const byId = new Map();
	stats.forEach((s) => byId.set(s.id, s));
	const out = { pair: null, packetsSent: 0, packetsReceived: 0 };
	stats.forEach((s) => {
		if (s.type === 'transport' && s.selectedCandidatePairId) {
			const p = byId.get(s.selectedCandidatePairId);
			const l = p && byId.get(p.localCandidateId);
			const r = p && byId.get(p.remoteCandidateId);
			out.pair = {
				state: p && p.state,
				local: l && `${l.address}:${l.port} ${l.candidateType}`,
				remote: r && `${r.address}:${r.port} ${r.candidateType}`,
			};
		}
		if (s.type === 'outbound-rtp' && s.kind === 'audio')
			out.packetsSent += s.packetsSent || 0;
		if (s.type === 'inbound-rtp' && s.kind === 'audio')
			out.packetsReceived += s.packetsReceived || 0;
	});
	return out;
}

function render(phone) {
	for (const [key, value] of Object.entries(phone.state)) {
		const el = document.getElementById(key);
		if (el) {
			el.textContent = value;
			el.className = 'value ' + value.replace(/[^a-z]/g, '');
		}
	}
	const log = document.getElementById('log');
	log.textContent = phone.events.slice(-14).map((e) => {
		const { t, what, ...rest } = e;
		const more = Object.entries(rest).filter(([, v]) =>
		    typeof v !== 'object' || v === null).map(([k, v]) =>
		    `${k}=${v}`).join(' ');
		return `${(t / 1000).toFixed(2).padStart(6)}s ${what} ${more}`;
	}).join('\n');
}
