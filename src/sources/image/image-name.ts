import { OciUrlError, parseOciUrl, type OciRepositoryRef } from "../oci/reference.js";

// An ImageRepository's `spec.image`, read as image-reflector-controller's ParseImageReference reads it:
// a repository without scheme, tag or digest; Docker Hub's short names made explicit.

/** `spec.image` names no repository (Flux's ImageURLInvalid: the object stalls). */
export class ImageNameError extends Error {
  override name = "ImageNameError";
}

/** The repository `image` names and its canonical name (`index.docker.io/library/alpine` for `alpine`). */
export function parseImageName(image: string, insecure = false): { ref: OciRepositoryRef; canonical: string } {
  const scheme = image.split("://");
  if (scheme.length > 1)
    throw new ImageNameError(`image '${image}' should not include URL scheme; remove '${scheme[0]}://'`);
  const slash = image.indexOf("/");
  const first = slash < 0 ? "" : image.slice(0, slash);
  const isHost = first.includes(".") || first.includes(":") || first === "localhost";
  const path = isHost ? image.slice(slash) : image;
  const tagged = path.split(":");
  if (tagged.length > 1) throw new ImageNameError(`image '${image}' should not include a tag; remove ':${tagged[1]}'`);
  let ref: OciRepositoryRef;
  try {
    ref = parseOciUrl(`oci://${image}`, insecure);
  } catch (error) {
    if (!(error instanceof OciUrlError)) throw error;
    throw new ImageNameError(`image '${image}': ${error.message}`);
  }
  return { ref, canonical: `${ref.registry}/${ref.repository}` };
}
