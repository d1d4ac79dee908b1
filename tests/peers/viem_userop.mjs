// Peer: viem 2.30.0's ERC-4337 v0.8 helpers, run once per test module.
// stdin: JSON array of {chainId, entryPoint, op} with op in the unpacked JSON-RPC form (quantities as 0x-hex);
// stdout: JSON array of {hash, packed} (getUserOperationHash v0.8, toPackedUserOperation), same order.
import { getUserOperationHash, toPackedUserOperation } from "viem/account-abstraction";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const big = (value) => (value === undefined ? undefined : BigInt(value));

const answers = cases.map(({ chainId, entryPoint, op }) => {
  const userOperation = {
    sender: op.sender,
    nonce: big(op.nonce),
    factory: op.factory,
    factoryData: op.factoryData,
    callData: op.callData,
    callGasLimit: big(op.callGasLimit),
    verificationGasLimit: big(op.verificationGasLimit),
    preVerificationGas: big(op.preVerificationGas),
    maxFeePerGas: big(op.maxFeePerGas),
    maxPriorityFeePerGas: big(op.maxPriorityFeePerGas),
    paymaster: op.paymaster,
    paymasterVerificationGasLimit: big(op.paymasterVerificationGasLimit),
    paymasterPostOpGasLimit: big(op.paymasterPostOpGasLimit),
    paymasterData: op.paymasterData,
    signature: op.signature,
  };
  const hash = getUserOperationHash({
    chainId,
    entryPointAddress: entryPoint,
    entryPointVersion: "0.8",
    userOperation,
  });
  const packed = toPackedUserOperation(userOperation);
  return {
    hash,
    packed: {
      initCode: packed.initCode,
      accountGasLimits: packed.accountGasLimits,
      gasFees: packed.gasFees,
      paymasterAndData: packed.paymasterAndData,
    },
  };
});
process.stdout.write(JSON.stringify(answers));
