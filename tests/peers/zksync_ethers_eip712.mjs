// zksync-ethers peer for sso_signer.zksync: one process for a whole corpus.
// stdin: JSON {txs: [tx...], bytecodes: [hex...], create2: [{sender, bytecodeHash, salt, input}],
//              create: [{sender, nonce}]}
//   tx = {chainId, nonce, from, to, value, data, gasLimit, maxFeePerGas, maxPriorityFeePerGas, gasPerPubdata,
//         factoryDeps: [hex], customSignature: hex ("0x" = none), paymaster: {paymaster, paymasterInput} | null}
//   integers are decimal strings.
// stdout: JSON {transactionType, txs: [{digest, serialized, reparsed, hash, rpc}], bytecodeHashes, create2, create}
//   digest = EIP712Signer.getSignedDigest, serialized = types.Transaction.from(...).serialized,
//   reparsed = fields zksync-ethers reads back from `serialized`, hash = L2 tx hash (null without signature),
//   rpc = the JSON-RPC request object zksync-ethers' provider sends for it (getRpcTransaction).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { ethers } = require("ethers");
const zk = require("zksync-ethers");
const { EIP712_TYPES } = require("zksync-ethers/build/signer");

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const big = (x) => BigInt(x);
const str = (x) => (x === null || x === undefined ? null : x.toString());

function request(t) {
  const customData = {
    gasPerPubdata: big(t.gasPerPubdata),
    factoryDeps: t.factoryDeps,
  };
  // zksync-ethers refuses an explicitly empty customSignature; leaving it out serialises "0x".
  if (t.customSignature !== "0x") customData.customSignature = t.customSignature;
  if (t.paymaster) customData.paymasterParams = t.paymaster;
  return {
    type: zk.utils.EIP712_TX_TYPE,
    chainId: big(t.chainId),
    nonce: Number(t.nonce),
    from: t.from,
    to: t.to,
    value: big(t.value),
    data: t.data,
    gasLimit: big(t.gasLimit),
    maxFeePerGas: big(t.maxFeePerGas),
    maxPriorityFeePerGas: big(t.maxPriorityFeePerGas),
    customData,
  };
}

const txs = input.txs.map((t) => {
  const req = request(t);
  const digest = zk.EIP712Signer.getSignedDigest(req);
  const tx = zk.types.Transaction.from(req);
  const serialized = tx.serialized;
  const back = zk.utils.parseEip712(serialized);
  const reparsed = {
    chainId: str(back.chainId),
    nonce: str(back.nonce),
    from: back.from,
    to: back.to,
    value: str(back.value),
    data: ethers.hexlify(back.data),
    gasLimit: str(back.gasLimit),
    maxFeePerGas: str(back.maxFeePerGas),
    maxPriorityFeePerGas: str(back.maxPriorityFeePerGas),
    gasPerPubdata: str(back.customData.gasPerPubdata),
    factoryDeps: back.customData.factoryDeps.map((d) => ethers.hexlify(d)),
    customSignature: ethers.hexlify(back.customData.customSignature),
    paymaster: back.customData.paymasterParams
      ? {
          paymaster: back.customData.paymasterParams.paymaster,
          paymasterInput: ethers.hexlify(back.customData.paymasterParams.paymasterInput),
        }
      : null,
  };
  const hash = t.customSignature !== "0x" ? tx.hash : null;
  // getRpcTransaction uses no provider state; call it without connecting anywhere. Empty factory deps are
  // left out, as the SDK does for a plain call.
  const rpcReq = { ...req, customData: { ...req.customData } };
  if (t.factoryDeps.length === 0) delete rpcReq.customData.factoryDeps;
  const rpc = zk.Provider.prototype.getRpcTransaction.call(null, rpcReq);
  return { digest: ethers.hexlify(digest), serialized, reparsed, hash, rpc };
});

const out = {
  transactionType: ethers.TypedDataEncoder.from(EIP712_TYPES).encodeType("Transaction"),
  txs,
  bytecodeHashes: input.bytecodes.map((b) => ethers.hexlify(zk.utils.hashBytecode(b))),
  create2: input.create2.map((c) => zk.utils.create2Address(c.sender, c.bytecodeHash, c.salt, c.input)),
  create: input.create.map((c) => zk.utils.createAddress(c.sender, big(c.nonce))),
};
process.stdout.write(JSON.stringify(out));
