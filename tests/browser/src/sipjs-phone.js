// The SIP.js phone.  Unlike JsSIP, SIP.js registers without RFC 5626
// parameters unless told: the Registerer's regId (0 by default) makes it
// add reg-id and +sip.instance (the UserAgent's instanceId) to its
// Contact.  Everything else is SIP.js's default: Supported: outbound
// (without "path": EPSIP's default path-policy, lenient, adds its Path
// anyway).  The digest credentials are the AoR's user and the password.
// ICE servers: none (the test's network has no STUN server, and SIP.js's
// default is a public one).
import {
	Inviter, Registerer, RegistererState, SessionState, UserAgent,
} from 'sip.js';

import { makePhone, params, watchPeerConnection, mediaStats } from
    './phone-ui.js';

const { wss, aor, target, password } = params();
const phone = makePhone('SIP.js', __SIPJS_VERSION__, aor);
const sdhOptions = { constraints: { audio: true, video: false } };
let session = null;

const ua = new UserAgent({
	uri: UserAgent.makeURI(aor),
	authorizationUsername: aor.slice(4, aor.indexOf('@')),
	authorizationPassword: password,
	transportOptions: { server: wss },
	sessionDescriptionHandlerFactoryOptions: {
		peerConnectionConfiguration: { iceServers: [] },
	},
	userAgentString: `SIP.js ${__SIPJS_VERSION__} (EPSIP browser test)`,
	logLevel: 'warn',
	delegate: {
		onConnect: () => phone.set('transport', 'connected'),
		onDisconnect: () => phone.set('transport', 'disconnected'),
		onInvite: (invitation) => {
			if (session) {
				phone.record('error', {
				    message: 'a second session while busy' });
				invitation.reject();
				return;
			}
			const r = invitation.request;
			phone.record('invite received', {
				ruri: r.ruri.toString(),
				from: r.from.uri.toString(),
			});
			phone.set('call', 'incoming');
			wire(invitation);
		},
	},
});
const registerer = new Registerer(ua, { regId: 1 });
registerer.stateChange.addListener((state) => {
	if (state === RegistererState.Registered)
		phone.set('registration', 'registered');
	else if (state === RegistererState.Unregistered)
		phone.set('registration', 'unregistered');
});

function wire(s) {
	session = s;
	s.delegate = {
		onSessionDescriptionHandler: (sdh) =>
			watchPeerConnection(phone, sdh.peerConnection),
		onBye: (bye) => {
			phone.record('bye received');
			bye.accept();
		},
	};
	s.stateChange.addListener((state) => {
		if (state === SessionState.Established) {
			phone.record('established');
			phone.set('call', 'established');
			watchPeerConnection(phone,
			    s.sessionDescriptionHandler.peerConnection);
		} else if (state === SessionState.Terminated) {
			phone.record('terminated');
			phone.set('call', 'terminated');
			session = null;
		}
	});
}

phone.actions.call = () => {
	const to = document.getElementById('target').value;
	const inviter = new Inviter(ua, UserAgent.makeURI(to), {
		sessionDescriptionHandlerOptions: sdhOptions,
	});
	wire(inviter);
	phone.set('call', 'calling');
	phone.record('invite sent', { target: to });
	inviter.invite({
		requestDelegate: {
			onProgress: (r) => phone.record('provisional', {
			    status: r.message.statusCode }),
			onAccept: () => phone.record('accepted'),
			onReject: (r) => phone.record('rejected', {
			    status: r.message.statusCode }),
		},
	});
};
phone.actions.answer = () => {
	phone.record('answer');
	session.accept({ sessionDescriptionHandlerOptions: sdhOptions });
};
phone.actions.hangup = () => {
	phone.record('hangup');
	session.bye({
		requestDelegate: {
			onAccept: (r) => phone.record('bye answered', {
			    status: r.message.statusCode }),
		},
	});
};
phone.mediaStats = () => mediaStats(phone);

document.getElementById('target').value = target;
ua.start().then(() => registerer.register({
	requestDelegate: {
		onAccept: (r) => phone.record('registered', {
			status: r.message.statusCode,
			require: r.message.getHeader('require') || '',
			flowTimer: r.message.getHeader('flow-timer') || '',
		}),
		onReject: (r) => {
			phone.record('registration failed', {
			    status: r.message.statusCode });
			phone.set('registration', 'failed');
		},
	},
})).catch((e) => phone.record('error', { message: String(e) }));
