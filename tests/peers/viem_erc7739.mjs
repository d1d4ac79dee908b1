// ERC-7739 peer: viem 2.30.0's experimental erc7739 helpers, run once per test module.
// stdin: JSON array of cases {kind: "personal"|"typed", message?, typedData?, verifierDomain, signature?}
//   personal.message is {raw: "0x.."} or a string; verifierDomain {name, version, chainId, verifyingContract, salt}.
// stdout: JSON array of {hash, wrapped?} (wrapped only for typed cases that carry a signature).
import { hashMessage, hashTypedData, wrapTypedDataSignature } from "viem/experimental/erc7739";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const out = cases.map((c) => {
  const verifierDomain = { ...c.verifierDomain, chainId: BigInt(c.verifierDomain.chainId) };
  if (c.kind === "personal") {
    return { hash: hashMessage({ message: c.message, verifierDomain }) };
  }
  const td = c.typedData;
  const hash = hashTypedData({ ...td, verifierDomain });
  const result = { hash };
  if (c.signature) result.wrapped = wrapTypedDataSignature({ ...td, signature: c.signature });
  return result;
});
process.stdout.write(JSON.stringify(out));
