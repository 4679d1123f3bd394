import { describe, expect, it } from "vitest";
import { checkedCloneUrls } from "../../src/cli/forge.js";

// The clone URLs a forge's API answers, as `sluice bootstrap github|gitlab` accepts or refuses them (pure logic;
// the CLI against a hostile contract server is in test/cli/bootstrap-forge.test.ts).

const hosts = { http: "github.com", ssh: "github.com", allowHttp: false };
const check = (httpUrl: unknown, sshUrl: unknown, allowHttp = false) =>
  checkedCloneUrls("GitHub", { httpUrl, sshUrl }, { ...hosts, allowHttp });
const https = "https://github.com/org/fleet.git";

describe("clone URLs from a forge's API", () => {
  it("takes GitHub's answer, scp-like SSH URL made ssh:// (what a GitRepository admits)", () => {
    // Act
    const urls = check(https, "git@github.com:org/fleet.git");
    // Assess
    expect(urls).toEqual({ httpUrl: https, sshUrl: "ssh://git@github.com/org/fleet.git" });
    expect(check(https, "ssh://git@github.com:2222/org/fleet.git").sshUrl).toBe(
      "ssh://git@github.com:2222/org/fleet.git",
    );
  });

  it.each([
    ["file://", "file:///etc/passwd", "git@github.com:org/fleet.git", "not https://"],
    ["plain http", "http://github.com/org/fleet.git", "git@github.com:org/fleet.git", "not https://"],
    ["another host", "https://evil.example/org/fleet.git", "git@github.com:org/fleet.git", "not on github.com"],
    [
      "a look-alike host",
      "https://github.com.evil.example/org/fleet.git",
      "git@github.com:o/f.git",
      "not on github.com",
    ],
    ["credentials", "https://user:pass@github.com/org/fleet.git", "git@github.com:org/fleet.git", "credentials"],
    ["a query", "https://github.com/org/fleet.git?x=1", "git@github.com:org/fleet.git", "credentials, a query"],
    ["not a string", 42, "git@github.com:org/fleet.git", "not a string"],
    ["ext::", https, "ext::sh -c touch% /tmp/pwned", "not ssh://"],
    ["an option as host", https, "ssh://-oProxyCommand=touch%20x/org/fleet.git", "not ssh://"],
    ["an ssh host elsewhere", https, "git@evil.example:org/fleet.git", "not on github.com"],
    ["a password in the SSH URL", https, "ssh://git:pw@github.com/org/fleet.git", "not ssh://"],
    ["no user", https, "ssh://github.com/org/fleet.git", "not ssh://"],
    ["an scp-like path that is a URL", https, "git@github.com://evil/x", "not ssh://"],
    ["whitespace", "https://github.com/org/fleet.git --upload-pack=x", "git@github.com:o/f.git", "not https://"],
  ])("refuses %s", (_, httpUrl, sshUrl, why) => {
    // Act + Assess
    expect(() => check(httpUrl, sshUrl)).toThrow(why);
  });

  it("takes http:// only when allowed", () => {
    // Act
    const urls = check("http://github.com/org/fleet.git", "git@github.com:org/fleet.git", true);
    // Assess
    expect(urls.httpUrl).toBe("http://github.com/org/fleet.git");
    expect(() => check("file:///x", "git@github.com:org/fleet.git", true)).toThrow("not http(s)://");
  });
});
