"""Static pools the world is drawn from: cities, categories, goods, names, carriers, banks.

Plain data, no randomness. Order matters (indices are stored in arrays), so entries
are only ever appended.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BANKS",
    "BRANDS",
    "CARRIERS",
    "CATEGORIES",
    "CHANNELS",
    "CITIES",
    "GOODS",
    "PHONE_PREFIXES",
    "STREETS",
    "SURNAMES",
    "Category",
    "Goods",
]


@dataclass(frozen=True)
class Category:
    """A merchant category as it appears in the ``category`` column.

    ``median`` and ``sigma`` describe the lognormal ticket size in yuan; ``rate`` the
    relative number of customer payments a year; ``visits`` the mean visits of one
    customer; ``round_share`` the share of honest tickets in whole yuan (menu prices,
    haggled stall prices); ``buys`` the goods it buys from wholesalers with weights.
    """

    code: str
    label: str
    share: float
    median: float
    sigma: float
    rate: float
    visits: float
    round_share: float
    weekend: float
    hourly: str
    closes_for_new_year: bool
    new_year_boost: float
    names: tuple[str, ...]
    buys: tuple[tuple[str, float], ...]


CATEGORIES: tuple[Category, ...] = (
    Category("restaurant", "餐饮", .20, 32, .55, 1.3, 1.4, .55, 1.15, "meal", True, 1.0,
             ("面馆", "饭店", "小厨", "家常菜", "麻辣烫", "烧烤", "火锅店", "快餐", "米粉店",
              "饺子馆", "川菜馆", "牛肉面", "黄焖鸡米饭", "酸菜鱼"),
             (("食品百货", .6), ("蔬菜肉禽", .4))),
    Category("snack", "小吃早餐", .08, 9, .5, 1.4, 1.8, .6, 1.0, "breakfast", True, 1.0,
             ("早餐店", "包子铺", "煎饼果子", "豆浆油条", "肠粉店", "小吃店", "馄饨铺", "生煎"),
             (("食品百货", .5), ("蔬菜肉禽", .5))),
    Category("convenience", "便利店", .14, 14, .85, 1.5, 1.6, .15, 1.1, "allday", False, 1.3,
             ("便利店", "超市", "便民超市", "小卖部", "百货店", "烟酒店"),
             (("食品百货", 1.0),)),
    Category("market_stall", "菜市场摊位", .12, 13, .7, 1.1, 1.7, .45, 1.2, "morning", True, 1.2,
             ("蔬菜摊", "鲜肉铺", "水产摊", "豆制品摊", "禽蛋摊", "干货摊", "调料摊"),
             (("蔬菜肉禽", .8), ("水果", .2))),
    Category("fruit", "水果店", .06, 24, .6, .9, 1.4, .3, 1.2, "afternoon", False, 1.5,
             ("水果店", "鲜果行", "果业", "水果超市"),
             (("水果", 1.0),)),
    Category("tea_bakery", "奶茶烘焙", .05, 19, .4, 1.2, 1.3, .5, 1.3, "afternoon", True, 1.0,
             ("奶茶店", "蛋糕店", "烘焙坊", "面包房", "茶饮"),
             (("食品百货", .7), ("水果", .3))),
    Category("wholesaler", "批发商", .035, 300, 1.0, .5, 1.3, .35, .8, "business", True, 1.2,
             (), ()),
    Category("repair", "维修", .05, 90, .9, .35, 1.05, .6, 1.0, "business", False, 1.0,
             ("手机维修", "汽修厂", "家电维修", "电动车维修", "修鞋配钥匙", "电脑维修"),
             (("电子配件", .7), ("五金建材", .3))),
    Category("pharmacy", "药店", .05, 42, .8, .8, 1.2, .1, 1.0, "allday", False, 1.0,
             ("大药房", "药店", "健康药房", "医药超市"),
             (("医药", 1.0),)),
    Category("hair_salon", "美发", .06, 45, .6, .5, 1.3, .75, 1.3, "afternoon", True, 1.8,
             ("理发店", "美发沙龙", "发型设计", "造型工作室"),
             (("美容美发用品", 1.0),)),
    Category("clothing", "服装", .06, 130, .7, .4, 1.05, .5, 1.35, "evening", True, 1.4,
             ("服装店", "女装", "童装", "鞋店", "服饰"),
             (("服装鞋帽", 1.0),)),
    Category("hardware", "五金建材", .045, 65, 1.0, .35, 1.1, .3, .9, "business", True, 1.0,
             ("五金店", "建材店", "水电五金", "灯具店"),
             (("五金建材", 1.0),)),
)


@dataclass(frozen=True)
class Goods:
    """What a wholesaler sells: invoice size (median yuan), yuan per kg, name endings."""

    label: str
    share: float
    invoice_median: float
    yuan_per_kg: float
    names: tuple[str, ...]


GOODS: tuple[Goods, ...] = (
    Goods("食品百货", .33, 1800, 12, ("粮油批发部", "副食批发", "食品商行", "调味品批发")),
    Goods("蔬菜肉禽", .2, 900, 6, ("蔬菜批发行", "冻品批发", "肉类批发", "禽蛋批发部")),
    Goods("水果", .12, 1200, 8, ("水果批发行", "果品批发", "鲜果批发部")),
    Goods("医药", .07, 3500, 150, ("医药批发", "医药公司", "药业商行")),
    Goods("电子配件", .1, 2200, 300, ("手机配件批发", "电子商行", "数码配件批发")),
    Goods("服装鞋帽", .08, 4500, 60, ("服装批发", "鞋帽批发", "服饰商行")),
    Goods("五金建材", .07, 2500, 10, ("五金批发部", "建材批发", "水暖批发")),
    Goods("美容美发用品", .03, 800, 40, ("美发用品批发", "美容用品商行")),
)

# (city, weight, districts); districts are real ones of each city.
CITIES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("上海市", 10, ("浦东新区", "徐汇区", "闵行区", "静安区", "杨浦区", "宝山区", "普陀区")),
    ("北京市", 9, ("朝阳区", "海淀区", "丰台区", "西城区", "通州区", "昌平区", "大兴区")),
    ("广州市", 8, ("天河区", "越秀区", "海珠区", "白云区", "番禺区", "荔湾区")),
    ("深圳市", 8, ("南山区", "福田区", "宝安区", "龙岗区", "罗湖区", "龙华区")),
    ("成都市", 7, ("武侯区", "锦江区", "青羊区", "金牛区", "成华区", "双流区")),
    ("重庆市", 7, ("渝中区", "江北区", "南岸区", "九龙坡区", "沙坪坝区", "渝北区")),
    ("杭州市", 6, ("西湖区", "上城区", "拱墅区", "滨江区", "萧山区", "余杭区")),
    ("武汉市", 6, ("江岸区", "武昌区", "洪山区", "江汉区", "汉阳区")),
    ("西安市", 5, ("雁塔区", "碑林区", "未央区", "莲湖区", "新城区")),
    ("郑州市", 5, ("金水区", "二七区", "中原区", "管城回族区", "惠济区")),
    ("长沙市", 4, ("岳麓区", "芙蓉区", "天心区", "雨花区", "开福区")),
    ("南京市", 4, ("鼓楼区", "玄武区", "秦淮区", "江宁区", "建邺区")),
    ("苏州市", 4, ("姑苏区", "吴中区", "相城区", "虎丘区", "吴江区")),
    ("临沂市", 3, ("兰山区", "罗庄区", "河东区")),
    ("合肥市", 3, ("蜀山区", "庐阳区", "包河区", "瑶海区")),
    ("昆明市", 3, ("五华区", "盘龙区", "官渡区", "西山区")),
    ("沈阳市", 3, ("和平区", "沈河区", "皇姑区", "铁西区")),
    ("金华市", 2, ("婺城区", "金东区")),
)

STREETS: tuple[str, ...] = (
    "人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "文化路", "光明路",
    "长江路", "黄河路", "东风路", "朝阳路", "青年路", "民主路", "工农路", "幸福路", "团结路",
    "花园路", "健康路", "友谊路", "学府路", "北京路", "东大街", "西大街", "南大街", "北大街",
    "府前街", "育才路", "振兴路", "迎宾路", "滨河路", "江滨路", "环城路", "站前路", "商业街",
    "步行街", "新村路", "公园路", "体育路", "红旗路", "五一路", "复兴路", "前进路", "跃进路",
    "兴业路", "金山路", "银河路",
)

SURNAMES: tuple[str, ...] = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "林", "罗", "高", "梁", "郑", "谢", "宋", "唐", "许", "邓", "韩", "冯", "曹",
)

BRANDS: tuple[str, ...] = (
    "鑫源", "华联", "好又多", "金福", "顺发", "万家", "兴隆", "福满", "佳佳", "美宜", "惠民",
    "宏达", "恒泰", "聚福", "百姓", "阳光", "一品", "和记", "快乐", "红星", "新概念", "优品",
    "老街", "四季", "家和", "盛世", "隆昌", "同福",
)

# (channel, market share) of consumer QR payments.
CHANNELS: tuple[tuple[str, float], ...] = (
    ("alipay", .50), ("wechat", .42), ("unionpay", .06), ("dcep", .02),
)

# (carrier, waybill prefix, share): LTL freight and same-city van carriers.
CARRIERS: tuple[tuple[str, str, float], ...] = (
    ("顺丰速运", "SF", .2), ("德邦快递", "DPK", .16), ("中通快运", "ZTO", .15),
    ("安能物流", "ANE", .13), ("京东物流", "JD", .1), ("货拉拉", "HLL", .14),
    ("壹米滴答", "YMDD", .07), ("韵达快运", "YD", .05),
)

# (bank, BIN prefix, account length): debit-card style settlement accounts, 16-19 digits.
BANKS: tuple[tuple[str, str, int], ...] = (
    ("工商银行", "622202", 19), ("建设银行", "621700", 19), ("农业银行", "622848", 19),
    ("中国银行", "621661", 19), ("招商银行", "622588", 16), ("邮储银行", "621799", 19),
    ("交通银行", "622262", 19), ("农商银行", "623190", 18), ("网商银行", "621558", 16),
)

PHONE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "158", "159", "177", "180", "181", "182", "183", "186", "187", "188", "189", "199",
)
