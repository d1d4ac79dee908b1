// Benchmark peer: the client pipeline of benchmarks/client_throughput.py done with the published SDK
// (npm zksync-sso 0.4.1) and viem 2.30.0, in node. The SDK has no headless passkey, so the WebAuthn payload
// is signed with @noble/curves p256 and built the way the Python headless passkey builds it.
//   node benchmarks/client_throughput_peer.mjs N [verify]
// With "verify", each assertion is also checked with @simplewebauthn/server's verifyAuthenticationResponse,
// as the SDK's requestPasskeyAuthentication does before formatting the signature (sso-era.md §3.2).
// stdout: one JSON object {n, seconds (best of three runs), txPerSecond, publicKey: {x, y}, lastTransaction}.
import { createHash, randomBytes } from "node:crypto";
import { p256 } from "@noble/curves/p256";
import { hashTypedData } from "viem";
import { chainConfig, serializeTransaction } from "viem/zksync";
import { verifyAuthenticationResponse } from "@simplewebauthn/server";
import { passkeyHashSignatureResponseFormat } from "zksync-sso/utils";

const n = Number.parseInt(process.argv[2] ?? "200", 10);
const verify = process.argv[3] === "verify";
const RP_ID = "localhost";
const ORIGIN = "http://localhost:5173";
const ACCOUNT = "0x1111111111111111111111111111111111111111";
const VALIDATOR = "0x2222222222222222222222222222222222222222";
const CHAIN_ID = 300;

const sha256 = (bytes) => createHash("sha256").update(bytes).digest();
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const hexToBytes = (h) => Buffer.from(h.slice(2), "hex");

const privateKey = p256.utils.randomPrivateKey();
const publicKey = p256.getPublicKey(privateKey, false); // 0x04 || x || y
const credentialId = randomBytes(32);
// COSE_Key (EC2, ES256, P-256) of the key, as a registration would have stored it.
const cose = Buffer.concat([
  Buffer.from("a5010203262001215820", "hex"),
  publicKey.slice(1, 33),
  Buffer.from("225820", "hex"),
  publicKey.slice(33, 65),
]);
let counter = 0;

async function signOne(nonce) {
  const tx = {
    type: "eip712",
    chainId: CHAIN_ID,
    nonce,
    from: ACCOUNT,
    to: "0x000000000000000000000000000000000000dEaD",
    value: 10n ** 15n,
    gas: 2_000_000n,
    maxFeePerGas: 250_000_000n,
    maxPriorityFeePerGas: 1000n,
    gasPerPubdata: 50_000n,
  };
  const digest = hexToBytes(hashTypedData(chainConfig.custom.getEip712Domain(tx)));
  // authenticatorData: rpIdHash || flags (UP|UV) || signCount, as the headless passkey does.
  counter += 1;
  const authData = Buffer.alloc(37);
  sha256(Buffer.from(RP_ID)).copy(authData, 0);
  authData[32] = 0x05;
  authData.writeUInt32BE(counter, 33);
  const clientDataJSON = Buffer.from(
    JSON.stringify({ type: "webauthn.get", challenge: b64url(digest), origin: ORIGIN, crossOrigin: false }),
  );
  const message = Buffer.concat([authData, sha256(clientDataJSON)]);
  // noble hashes the message with sha256 itself (prehash) and returns a low-s signature by default;
  // the SDK's unwrapEC2Signature still normalises, as with a real authenticator.
  const der = p256.sign(message, privateKey, { prehash: true }).toDERRawBytes();
  const response = {
    authenticatorData: b64url(authData),
    clientDataJSON: b64url(clientDataJSON),
    signature: b64url(der),
  };
  if (verify) {
    const id = b64url(credentialId);
    const result = await verifyAuthenticationResponse({
      response: { id, rawId: id, type: "public-key", response, clientExtensionResults: {} },
      expectedChallenge: b64url(digest),
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      credential: { id, publicKey: cose, counter: 0 },
    });
    if (!result.verified) throw new Error("the assertion did not verify");
  }
  const customSignature = passkeyHashSignatureResponseFormat(b64url(credentialId), response, {
    passkey: VALIDATOR,
  });
  return serializeTransaction({ ...tx, customSignature });
}

for (let i = 0; i < Math.min(50, n); i += 1) await signOne(i); // warm-up (JIT)
// Best of three timed runs, as the Python side measures.
let seconds = Number.POSITIVE_INFINITY;
let last = "0x";
for (let run = 0; run < 3; run += 1) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) last = await signOne(i);
  seconds = Math.min(seconds, Number(process.hrtime.bigint() - start) / 1e9);
}
process.stdout.write(
  JSON.stringify({
    n,
    seconds,
    txPerSecond: n / seconds,
    publicKey: { x: b64url(publicKey.slice(1, 33)), y: b64url(publicKey.slice(33, 65)) },
    lastTransaction: last,
  }),
);
