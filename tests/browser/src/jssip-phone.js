// The JsSIP phone.  JsSIP's defaults are what a browser phone sends an
// outbound edge: Contact <sip:RANDOM@RANDOM.invalid;transport=ws> with
// reg-id=1 and +sip.instance, Supported: path,gruu,outbound.  Besides the
// digest password (the user is the AoR's), only the ICE servers are set
// (none: the test's network has no STUN server, and JsSIP's default, a
// public one, would hold the call until it times out).
import * as JsSIP from 'jssip';

import { makePhone, params, watchPeerConnection, mediaStats } from
    './phone-ui.js';

const { wss, aor, target, password } = params();
const phone = makePhone('JsSIP', __JSSIP_VERSION__, aor);
const media = { audio: true, video: false };
const pcConfig = { iceServers: [] };
let session = null;

const ua = new JsSIP.UA({
	sockets: [new JsSIP.WebSocketInterface(wss)],
	uri: aor,
	password,
	register: true,
	session_timers: false,
	user_agent: `JsSIP ${__JSSIP_VERSION__} (EPSIP browser test)`,
});

ua.on('connected', () => phone.set('transport', 'connected'));
ua.on('disconnected', () => phone.set('transport', 'disconnected'));
ua.on('registered', (e) => {
	const r = e.response;
	phone.record('registered', {
		status: r.status_code,
		require: r.getHeader('Require') || '',
		flowTimer: r.getHeader('Flow-Timer') || '',
	});
	phone.set('registration', 'registered');
});
ua.on('unregistered', () => phone.set('registration', 'unregistered'));
ua.on('registrationFailed', (e) => {
	phone.record('registration failed', {
		cause: e.cause,
		status: e.response ? e.response.status_code : null,
	});
	phone.set('registration', 'failed');
});

ua.on('newRTCSession', (e) => {
	if (session && !session.isEnded()) {
		phone.record('error', { message: 'a second session while busy' });
		return;
	}
	session = e.session;
	if (e.originator === 'remote') {
		phone.record('invite received', {
			ruri: e.request.ruri.toString(),
			from: e.request.from.uri.toString(),
		});
		phone.set('call', 'incoming');
	} else {
		phone.set('call', 'calling');
	}
	wire(session);
});

function wire(s) {
	s.on('peerconnection', (e) => watchPeerConnection(phone, e.peerconnection));
	s.on('progress', (e) => {
		if (e.originator === 'remote')
			phone.record('provisional', { status: e.response.status_code });
	});
	s.on('accepted', () => phone.record('accepted'));
	s.on('confirmed', () => {
		phone.record('confirmed');
		phone.set('call', 'confirmed');
	});
	s.on('ended', (e) => {
		phone.record('ended', { originator: e.originator, cause: e.cause });
		phone.set('call', 'ended');
	});
	s.on('failed', (e) => {
		phone.record('failed', { originator: e.originator, cause: e.cause });
		phone.set('call', 'failed');
	});
	// An outgoing session has its peer connection at once.
	if (s.connection)
		watchPeerConnection(phone, s.connection);
}

phone.actions.call = () => {
	const to = document.getElementById('target').value;
	phone.record('invite sent', { target: to });
	ua.call(to, { mediaConstraints: media, pcConfig });
};
phone.actions.answer = () => {
	phone.record('answer');
	session.answer({ mediaConstraints: media, pcConfig });
};
phone.actions.hangup = () => {
	phone.record('hangup');
	session.terminate();
};
phone.mediaStats = () => mediaStats(phone);

document.getElementById('target').value = target;
ua.start();
