/// What a person should do when a check fails or warns, in plain words (Chinese and English): the
/// action the IQ report prints beside every problem. Keyed by check ID, families by their prefix.
extension VerifyCheckCatalog {
    /// The action for a failed or warned check `id`; nil when the catalogue has none.
    public static func action(for id: CheckID) -> String? {
        if let action = actions[id.rawValue] { return action }
        for (prefix, action) in familyActions where id.rawValue.hasPrefix(prefix) { return action }
        return nil
    }

    static let actions: [String: String] = [
        CheckID.manifest.rawValue:
            "安装包已损坏或不是本厂商发布的安装包：不要安装，向厂商索取新的副本。/ The bundle is damaged or not a bundle the vendor released: do not install; obtain a new copy from the vendor.",
        CheckID.entries.rawValue:
            "安装包的结构在签名后被改动：不要安装，向厂商索取新的副本。/ The bundle's structure was changed after the vendor signed it: do not install; obtain a new copy.",
        CheckID.payload.rawValue:
            "此文件在厂商签名后被修改或损坏：不要安装，重新获取一份副本并再次验证。/ This file was changed or damaged after the vendor signed it: do not install; obtain a new copy and verify it again.",
        CheckID.roles.rawValue:
            "缺少必需的发布批准签名：不要安装，请厂商提供经全部角色签名的版本。/ A required release approval is missing: do not install; ask the vendor for the release signed by every required role.",
        CheckID.trustDevelopment.rawValue:
            "使用的是开发用信任策略：结果不能用于临床，请使用本院正式的信任策略重新验证。/ A development trust policy was used: the result is not valid for clinical use; verify again with the site's production trust policy.",
        CheckID.gate.rawValue:
            "发布门禁未通过或缺少其签名证明：不要安装，请厂商提供通过发布门禁（ivpack check --attest）的版本。/ The release gate did not pass this release, or its signed attestation is missing: do not install; ask the vendor for a release that passed the gate (ivpack check --attest).",
        CheckID.trustCRLFreshness.rawValue:
            "信任策略中的证书吊销列表（CRL）即将或已经过期：运行 ivpack trust refresh --policy 策略文件 获取最新的吊销列表，然后重新验证。/ A certificate revocation list (CRL) of the trust policy is about to expire or has expired: run ivpack trust refresh --policy POLICY to fetch the current one, then verify again.",
        CheckID.encryption.rawValue:
            "加密组件的密钥条目损坏或被篡改：不要安装，向厂商索取新的安装包。/ A wrapped content key in the bundle is damaged or was altered: do not install; ask the vendor for a new copy of the bundle.",
        CheckID.versionConsistency.rawValue:
            "组件版本与发布版本不一致：不要安装，联系厂商。/ A component does not carry the release's version: do not install; contact the vendor.",
        CheckID.versionMinimum.rawValue:
            "版本低于本院允许的最低版本（降级）：除非有经批准的降级理由，不要安装。/ The version is below the site's minimum (a downgrade): do not install unless a downgrade is approved and recorded.",
        CheckID.license.rawValue:
            "许可证检查未通过：联系厂商确认本站点的许可证，然后重新验证。/ The licence check did not pass: ask the vendor to confirm this site's licence, then verify again.",
        CheckID.environment.rawValue:
            "无法读取环境要求：联系厂商。/ The environment requirements cannot be read: contact the vendor.",
        CheckID.report.rawValue:
            "报告在生成后被编辑过或不一致：以原始报告为准，必要时重新执行验证生成新报告。/ The report was edited after it was written or is inconsistent: use the original report, or run the verification again for a new one.",
        CheckID.reportSignature.rawValue:
            "签名不成立：报告或签名被修改，或签名人不受信任；请相关人员对原始报告重新签名。/ The signature does not hold: the report or signature was changed, or the signer is not trusted; have the signer sign the original report again.",
        CheckID.reportRoles.rawValue:
            "缺少必需角色的签署：请缺少的角色（安装人员、审核人、签发人）用 ivpack sign-report 签署。/ A required role has not signed: have the missing party (installer, reviewer, issuer) sign with ivpack sign-report.",
        CheckID.audit.rawValue:
            "审计日志少于报告记录的事件或已被改写：保全日志和备份，按质量体系调查。/ The audit log lacks events the report recorded or was rewritten: secure the log and its backups and investigate under the quality system.",
        CheckID.installRelease.rawValue:
            "安装未完成，已删除未完成的文件：检查磁盘空间和权限后重新安装。/ The installation did not complete and its partial files were removed: check disk space and permissions, then install again.",
        CheckID.installSnapshot.rawValue:
            "无法保存站点状态：不要继续，检查安装目录的状态文件后重试。/ The site's state could not be kept: do not continue; check the install root's state files and try again.",
        CheckID.installSwitch.rawValue:
            "新版本未能启用，原版本仍在运行：查明原因后重新安装。/ The new release could not be made active and the earlier one still runs: find the cause and install again.",
        CheckID.installHealthCheck.rawValue:
            "新版本健康检查失败，已回退到原版本：不要投入使用，联系厂商。/ The new release failed its health check and was rolled back: do not put it into use; contact the vendor.",
        CheckID.installRollback.rawValue:
            "回退未完成：立即停止使用并联系厂商，按应急预案处理。/ The rollback did not complete: stop clinical use at once, contact the vendor and follow the contingency plan.",
    ]

    static let familyActions: [(String, String)] = [
        (
            "signature.",
            "厂商签名不成立（被修改、证书不受信任或已吊销）：不要安装，向厂商索取新的副本。/ A vendor signature does not hold (changed, untrusted or revoked certificate): do not install; obtain a new copy from the vendor."
        ),
        (
            "signoff.",
            "此签署不成立：报告或签署文件被修改，或签署人证书不受信任、已过期且无时间戳；请该角色对原始报告重新签署。/ This sign-off does not hold: the report or the sign-off file was changed, or the signer's certificate is untrusted, or expired without a time-stamp; have that party sign the original report again."
        ),
        (
            "environment.",
            "目标环境不满足要求：调整硬件或软件后重新验证，或经批准后记录接受理由。/ The target does not meet a requirement: fix the hardware or software and verify again, or record an approved acceptance."
        ),
        (
            "qualification.",
            "现场确认未通过：不要投入临床使用，记录问题并制定纠正措施。/ On-site qualification did not pass: do not put the software into clinical use; record the problem and decide corrective action."
        ),
    ]
}
