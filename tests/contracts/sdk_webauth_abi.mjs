// Prints the WebAuthValidator ABI shipped in the published zksync-sso npm package (the official SDK) as JSON.
import { WebAuthValidatorAbi } from "zksync-sso/abi";

process.stdout.write(JSON.stringify(WebAuthValidatorAbi));
