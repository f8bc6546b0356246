// Placeholder entry so the build config resolves; replaced by the runtime worker host (issue #2).
export {};
