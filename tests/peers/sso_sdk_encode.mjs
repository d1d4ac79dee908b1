// Peer: the published official SDK (npm zksync-sso 0.4.1 + viem 2.30.0), run once per test module.
// stdin: JSON array of cases; stdout: JSON array of answers, same order.
//   {kind: "signature", id, response: {authenticatorData, clientDataJSON, signature}, validator}
//       -> {customSignature}            (passkeyHashSignatureResponseFormat)
//   {kind: "moduleData", credentialId, x, y, origin, validator}
//       -> {initData, entry}             (encodePasskeyModuleParameters + encodeModuleData)
//   {kind: "deployModular" | "deployLegacy", factory, passkey, session?, recovery?, recoveryOidc?, owners?,
//    uniqueAccountId?, credentialId, cose, origin}
//       -> {calldata}                    (deployModularAccount / deployAccount; the transaction is captured
//                                          at eth_sendTransaction and never sent)
import { createClient, custom, defineChain } from "viem";
import { deployAccount, deployModularAccount } from "zksync-sso/client";
import {
  encodeModuleData,
  encodePasskeyModuleParameters,
  passkeyHashSignatureResponseFormat,
} from "zksync-sso/utils";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const hexToBytes = (h) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ""), "hex"));
const SENDER = "0x9999999999999999999999999999999999999999";
// A plain chain (no ZKsync formatters): the captured calldata does not depend on the chain.
const CHAIN = defineChain({
  id: 300,
  name: "capture",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: ["http://127.0.0.1:1"] } },
});

class Captured extends Error {
  constructor(data) {
    super("captured");
    this.data = data;
  }
}

function capturingClient() {
  const transport = custom({
    async request({ method, params }) {
      if (method === "eth_chainId") return "0x12c";
      if (method === "eth_sendTransaction") throw new Captured(params[0].data);
      throw new Error(`unexpected RPC ${method}`);
    },
  });
  return createClient({ account: SENDER, chain: CHAIN, transport });
}

async function captureCalldata(run) {
  try {
    await run(capturingClient());
  } catch (err) {
    for (let e = err; e; e = e.cause) if (e instanceof Captured) return e.data;
    throw err;
  }
  throw new Error("the SDK sent nothing");
}

const out = [];
for (const c of cases) {
  if (c.kind === "signature") {
    out.push({
      customSignature: passkeyHashSignatureResponseFormat(c.id, c.response, { passkey: c.validator }),
    });
  } else if (c.kind === "moduleData") {
    const initData = encodePasskeyModuleParameters({
      credentialId: c.credentialId,
      passkeyPublicKey: [Buffer.from(hexToBytes(c.x)), Buffer.from(hexToBytes(c.y))],
      expectedOrigin: c.origin,
    });
    out.push({ initData, entry: encodeModuleData({ address: c.validator, parameters: initData }) });
  } else if (c.kind === "deployModular") {
    const calldata = await captureCalldata((client) =>
      deployModularAccount(client, {
        accountFactory: c.factory,
        passkeyModule: {
          location: c.passkey,
          credentialId: c.credentialId,
          credentialPublicKey: hexToBytes(c.cose),
          expectedOrigin: c.origin,
        },
        sessionModule: c.session ? { location: c.session } : undefined,
        installNoDataModules: c.recovery ? [c.recovery] : [],
        owners: c.owners ?? [],
        uniqueAccountId: c.uniqueAccountId,
      }),
    );
    out.push({ calldata });
  } else if (c.kind === "deployLegacy") {
    const calldata = await captureCalldata((client) =>
      deployAccount(client, {
        credentialPublicKey: hexToBytes(c.cose),
        credentialId: c.credentialId,
        expectedOrigin: c.origin,
        uniqueAccountId: c.uniqueAccountId,
        contracts: {
          accountFactory: c.factory,
          passkey: c.passkey,
          session: c.session,
          recovery: c.recovery,
          recoveryOidc: c.recoveryOidc,
        },
      }),
    );
    out.push({ calldata });
  } else {
    throw new Error(`unknown case kind ${c.kind}`);
  }
}
process.stdout.write(JSON.stringify(out));
