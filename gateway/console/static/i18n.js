// Chinese by default, English switchable. t("key", {name: value}) fills {name} placeholders.
"use strict";

const I18N = {
  zh: {
    "app.title": "firegrid 消防网格控制台",
    "lang.switch": "English",
    "signin.title": "登录",
    "signin.help": "粘贴管理员发放的令牌（firegrid tokens issue）。令牌只保存在本标签页中。",
    "signin.token": "令牌",
    "signin.go": "登录",
    "signin.bad": "令牌无效或已吊销",
    "signout": "退出",
    "tab.installer": "安装调试",
    "tab.worker": "网格员",
    "tab.officer": "监管看板",
    "role.admin": "管理员", "role.officer": "消防监管", "role.installer": "安装人员",
    "role.worker": "网格员", "role.viewer": "只读", "role.platform": "平台",
    "stream.live": "实时", "stream.down": "重连中…",
    // installer
    "inst.register": "登记传感器",
    "inst.id": "设备编号", "inst.scan": "扫码", "inst.scan.stop": "停止扫码",
    "inst.profile": "设备型号", "inst.name": "名称", "inst.address": "地址",
    "inst.building": "楼栋", "inst.floor": "楼层", "inst.lat": "纬度", "inst.lon": "经度",
    "inst.map.help": "在地图上点击放置设备，或直接输入经纬度。",
    "inst.installer": "安装人员编号",
    "inst.grid": "所属网格", "inst.grid.none": "不在任何网格内（需要指定网格）",
    "inst.grid.pending": "—",
    "inst.save": "保存并开始调试",
    "inst.saved": "已登记 {id}（网格 {grid}）",
    "inst.commission": "调试",
    "inst.commission.id": "设备编号",
    "inst.commission.start": "开始调试",
    "inst.commission.wait": "请现在按下 {id} 的测试按钮…",
    "inst.commission.heard": "已收到 {id} 的测试信号",
    "inst.commission.done": "{id} 调试完成（{at}）",
    "inst.bulk": "批量导入（CSV）",
    "inst.bulk.upload": "上传",
    "inst.bulk.ok": "已导入 {n} 台设备",
    "inst.bulk.bad": "文件未导入，请修改以下行：",
    "inst.bulk.line": "第 {line} 行",
    // worker
    "wk.alerts": "开启提醒（声音 / 振动 / 通知）",
    "wk.alerts.on": "提醒已开启",
    "wk.mine": "我的警情",
    "wk.none": "暂无警情",
    "wk.patrols": "逾期巡查点",
    "wk.patrols.none": "没有逾期的巡查点",
    "wk.ack": "接单", "wk.arrive": "到场", "wk.handle": "处置",
    "wk.note": "处置说明", "wk.outcome": "处置结果", "wk.photo": "现场照片",
    "wk.submit": "提交处置",
    "wk.distance": "距离 {d}",
    "wk.awaiting": "已处置，等待核查",
    "wk.new": "新警情",
    "wk.photo.ref": "照片",
    // officer
    "of.board": "警情看板",
    "of.severity": "级别", "of.incident": "警情", "of.grid": "网格", "of.status": "状态",
    "of.opened": "发生时间", "of.due": "时限", "of.escalation": "上报层级", "of.actions": "操作",
    "of.verify": "核查", "of.close": "归档", "of.note": "说明",
    "of.details": "详情", "of.timeline": "处置记录", "of.photos": "现场照片",
    "of.closed": "最近归档",
    "of.none": "暂无未结警情",
    "of.map": "地图",
    "of.stats": "统计（近 30 天）",
    "of.stats.grid": "按网格", "of.stats.community": "按社区",
    "of.stats.count": "警情数", "of.stats.ontime": "按时率", "of.stats.judged": "考核数",
    "of.health": "网关状态",
    "of.health.ok": "正常", "of.health.bad": "异常",
    "overdue": "超时 {t}", "left": "剩余 {t}",
    "legend.online": "在线", "legend.offline": "离线", "legend.never": "未上线", "legend.incident": "未结警情",
    // domain words
    "status.reported": "已上报", "status.dispatched": "已派遣", "status.accepted": "已接单",
    "status.on_site": "已到场", "status.handled": "已处置", "status.verified": "已核查",
    "status.closed": "已归档", "status.escalated": "已超时上报",
    "sev.critical": "紧急", "sev.major": "重要", "sev.minor": "一般", "sev.warning": "提示",
    "outcome.false_alarm": "误报", "outcome.fire": "确认火情", "outcome.fault": "设备故障",
    "outcome.hazard_fixed": "隐患已整改", "outcome.other": "其他",
    "esc.worker": "网格员", "esc.leader": "网格长", "esc.community": "社区",
    "esc.street": "街道", "esc.centre": "指挥中心",
    "ev.dispatch": "派遣通知", "ev.remind": "催办", "ev.repeat": "重复报警", "ev.note": "备注",
    "ev.cleared": "已恢复",
    "error": "出错了：{msg}",
  },
  en: {
    "app.title": "firegrid fire-safety console",
    "lang.switch": "中文",
    "signin.title": "Sign in",
    "signin.help": "Paste the token your administrator issued (firegrid tokens issue). It is kept in this tab only.",
    "signin.token": "Token",
    "signin.go": "Sign in",
    "signin.bad": "Invalid or revoked token",
    "signout": "Sign out",
    "tab.installer": "Installer",
    "tab.worker": "Grid worker",
    "tab.officer": "Officer board",
    "role.admin": "admin", "role.officer": "officer", "role.installer": "installer",
    "role.worker": "grid worker", "role.viewer": "viewer", "role.platform": "platform",
    "stream.live": "live", "stream.down": "reconnecting…",
    "inst.register": "Register a sensor",
    "inst.id": "Device id", "inst.scan": "Scan", "inst.scan.stop": "Stop scanning",
    "inst.profile": "Device model", "inst.name": "Name", "inst.address": "Address",
    "inst.building": "Building", "inst.floor": "Floor", "inst.lat": "Latitude", "inst.lon": "Longitude",
    "inst.map.help": "Click the map to place the device, or type its latitude and longitude.",
    "inst.installer": "Installer id",
    "inst.grid": "Grid", "inst.grid.none": "outside every grid (a grid must be named)",
    "inst.grid.pending": "—",
    "inst.save": "Save and commission",
    "inst.saved": "Registered {id} (grid {grid})",
    "inst.commission": "Commissioning",
    "inst.commission.id": "Device id",
    "inst.commission.start": "Start commissioning",
    "inst.commission.wait": "Press the test button of {id} now…",
    "inst.commission.heard": "Test message from {id} received",
    "inst.commission.done": "{id} commissioned ({at})",
    "inst.bulk": "Bulk import (CSV)",
    "inst.bulk.upload": "Upload",
    "inst.bulk.ok": "{n} devices imported",
    "inst.bulk.bad": "Nothing imported; fix these lines:",
    "inst.bulk.line": "line {line}",
    "wk.alerts": "Turn on alerts (sound / vibration / notifications)",
    "wk.alerts.on": "Alerts on",
    "wk.mine": "My alarms",
    "wk.none": "No alarms",
    "wk.patrols": "Overdue patrol tags",
    "wk.patrols.none": "No overdue patrol tags",
    "wk.ack": "Accept", "wk.arrive": "Arrived", "wk.handle": "Handle",
    "wk.note": "Note", "wk.outcome": "Outcome", "wk.photo": "Photo",
    "wk.submit": "Submit",
    "wk.distance": "{d} away",
    "wk.awaiting": "Handled, awaiting verification",
    "wk.new": "New alarm",
    "wk.photo.ref": "photo",
    "of.board": "Incident board",
    "of.severity": "Severity", "of.incident": "Incident", "of.grid": "Grid", "of.status": "Status",
    "of.opened": "Opened", "of.due": "Time limit", "of.escalation": "Escalation", "of.actions": "Actions",
    "of.verify": "Verify", "of.close": "Close", "of.note": "Note",
    "of.details": "Details", "of.timeline": "Timeline", "of.photos": "Photos",
    "of.closed": "Recently closed",
    "of.none": "No open incidents",
    "of.map": "Map",
    "of.stats": "Figures (last 30 days)",
    "of.stats.grid": "By grid", "of.stats.community": "By community",
    "of.stats.count": "Incidents", "of.stats.ontime": "On time", "of.stats.judged": "Judged",
    "of.health": "Gateway health",
    "of.health.ok": "ok", "of.health.bad": "degraded",
    "overdue": "overdue {t}", "left": "{t} left",
    "legend.online": "online", "legend.offline": "offline", "legend.never": "never seen", "legend.incident": "open incident",
    "status.reported": "reported", "status.dispatched": "dispatched", "status.accepted": "accepted",
    "status.on_site": "on site", "status.handled": "handled", "status.verified": "verified",
    "status.closed": "closed", "status.escalated": "escalated",
    "sev.critical": "critical", "sev.major": "major", "sev.minor": "minor", "sev.warning": "warning",
    "outcome.false_alarm": "false alarm", "outcome.fire": "fire confirmed", "outcome.fault": "device fault",
    "outcome.hazard_fixed": "hazard fixed", "outcome.other": "other",
    "esc.worker": "grid worker", "esc.leader": "grid leader", "esc.community": "community",
    "esc.street": "street", "esc.centre": "centre",
    "ev.dispatch": "dispatch", "ev.remind": "reminder", "ev.repeat": "repeat", "ev.note": "note",
    "ev.cleared": "cleared",
    "error": "Error: {msg}",
  },
};

let LANG = localStorage.getItem("firegrid.lang") === "en" ? "en" : "zh";

function has(key) {
  return key in I18N[LANG] || key in I18N.zh;
}

function t(key, vars) {
  let text = I18N[LANG][key] ?? I18N.zh[key] ?? key;
  for (const [name, value] of Object.entries(vars || {})) {
    text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

function applyI18n(root) {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  for (const el of (root || document).querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of (root || document).querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}

function setLang(lang) {
  LANG = lang;
  localStorage.setItem("firegrid.lang", lang);
  applyI18n();
}
