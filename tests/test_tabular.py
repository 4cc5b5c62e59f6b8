"""quasinet.tabular: the column encoding (no scikit-learn) and make_tabular (a scikit-learn pipeline)."""

import json
import pickle
import warnings

import numpy as np
import pytest

from quasinet.csvread import read_csv
from quasinet.sklearn import make_tabular
from quasinet.tabular import ColumnEncoding, ColumnKinds, category_label

CSV = """size,colour,weight,label
1.5,red,10,a
2.5,blue,,b
,red,30,a
4.5,green,40,b
5.5,,50,a
"""


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(CSV)
    return read_csv(path)


def test_encoding_of_a_table_with_categories_and_gaps(table):
    enc = ColumnEncoding.fit(table, ["size", "colour", "weight"])
    assert enc.inputs == ["size", "colour", "weight"]
    assert enc.feature_names() == ["size", "size (missing)", "colour=blue", "colour=green", "colour=red",
                                   "colour (missing)", "weight", "weight (missing)"]
    # Written out by hand: medians 3.5 (of 1.5, 2.5, 4.5, 5.5) and 35 (of 10, 30, 40, 50).
    expected = np.array([
        [1.5, 0, 0, 0, 1, 0, 10, 0],
        [2.5, 0, 1, 0, 0, 0, 35, 1],
        [3.5, 1, 0, 0, 1, 0, 30, 0],
        [4.5, 0, 0, 1, 0, 0, 40, 0],
        [5.5, 0, 0, 0, 0, 1, 50, 0],
    ])
    np.testing.assert_array_equal(enc.transform(table), expected)
    assert enc.n_features == 8
    assert enc.describe()[0] == "size: number, gaps filled with 3.5 (median), gaps marked"
    assert enc.describe()[1] == "colour: categorical (blue, green, red), gaps marked"
    mean = ColumnEncoding.fit(table, ["size"], impute="mean")
    assert mean.columns[0]["fill"] == pytest.approx(3.5) and mean.impute == "mean"


def test_unseen_categories_and_new_gaps_at_transform(table):
    enc = ColumnEncoding.fit(table, ["colour", "weight"])
    new = {"colour": np.array(["purple", "red", None], dtype=object), "weight": np.array([np.nan, 1.0, 2.0]),
           "extra": np.zeros(3)}
    np.testing.assert_array_equal(enc.transform(new), [[0, 0, 0, 0, 35, 1],
                                                       [0, 0, 1, 0, 1, 0],
                                                       [0, 0, 0, 1, 2, 0]])
    # a column without gaps in training: no indicator, a gap is filled (number) or all zeros (category)
    full = ColumnEncoding.fit({"c": ["x", "y"], "v": [1.0, 3.0]})
    assert full.feature_names() == ["c=x", "c=y", "v"]
    np.testing.assert_array_equal(full.transform({"c": [None, "z"], "v": [np.nan, 5]}), [[0, 0, 2], [0, 0, 5]])


def test_categorical_named_numbers_compare_as_text(table):
    enc = ColumnEncoding.fit({"cyl": np.array([4, 6, 8, 4]), "w": [1.0, 2.0, 3.0, 4.0]}, categorical=["cyl"])
    assert enc.feature_names() == ["cyl=4", "cyl=6", "cyl=8", "w"]
    # 6.0 from a float column, "6" from text, np.int64(6): one category
    X = enc.transform({"cyl": np.array([6.0, 8.0]), "w": [0.0, 0.0]})
    np.testing.assert_array_equal(X[:, :3], [[0, 1, 0], [0, 0, 1]])
    X = enc.transform({"cyl": np.array([" 6", "4"], dtype=object), "w": [0.0, 0.0]})
    np.testing.assert_array_equal(X[:, :3], [[0, 1, 0], [1, 0, 0]])
    assert [category_label(v) for v in (np.int64(6), 6.5, True, " a ", "NA", float("nan"), None)] == \
        ["6", "6.5", "True", "a", None, None, None]


def test_dataframe_and_table_give_the_same_encoding(table, tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(tmp_path / "t.csv")
    a = ColumnEncoding.fit(table, ["size", "colour", "weight"])
    b = ColumnEncoding.fit(df, ["size", "colour", "weight"])
    assert a == b
    np.testing.assert_array_equal(a.transform(df), a.transform(table))
    # pandas' nullable integers with a gap
    c = ColumnEncoding.fit(pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")}))
    np.testing.assert_array_equal(c.transform(pd.DataFrame({"n": pd.array([None], dtype="Int64")})), [[2, 1]])


def test_json_round_trip(table):
    enc = ColumnEncoding.fit(table, ["size", "colour", "weight"], categorical=["colour"])
    text = json.dumps(enc.to_json())
    back = ColumnEncoding.from_json(text)
    assert back == enc and ColumnEncoding.from_json(json.loads(text)) == enc
    np.testing.assert_array_equal(back.transform(table), enc.transform(table))


def good():
    return {"version": 1, "impute": "median", "columns": [
        {"name": "a", "kind": "number", "fill": 1.5, "indicator": False},
        {"name": "b", "kind": "categorical", "categories": ["x", "y"], "indicator": True}]}


def edit(path, value):
    obj = good()
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


@pytest.mark.parametrize("obj,message", [
    ("{not json", "not JSON"),
    ([], "expected a JSON object, got list"),
    (edit(["version"], 2), "version 2 is not supported"),
    (edit(["version"], True), "version True is not supported"),
    (edit(["impute"], "mode"), "impute must be one of"),
    (edit(["extra"], 1), "expected the keys columns, impute and version"),
    (edit(["columns"], []), "columns must be a list of 1 to"),
    (edit(["columns", 0], "a"), "column 0 must be an object"),
    (edit(["columns", 0, "name"], ""), "column 0: name must be a non-empty string"),
    (edit(["columns", 1, "name"], "a"), "column 'a' appears twice"),
    (edit(["columns", 0, "fill"], float("nan")), "fill must be a finite number"),
    (edit(["columns", 0, "fill"], "1"), "fill must be a finite number"),
    (edit(["columns", 0, "fill"], True), "fill must be a finite number"),
    (edit(["columns", 0, "indicator"], 1), "indicator must be true or false"),
    (edit(["columns", 0, "kind"], "date"), "kind must be 'number' or 'categorical'"),
    (edit(["columns", 0, "categories"], ["x"]), "a number column has the keys"),
    (edit(["columns", 1, "categories"], []), "categories must be a list of 1 to"),
    (edit(["columns", 1, "categories"], ["x", 1]), "categories must be strings"),
    (edit(["columns", 1, "categories"], ["x", "x"]), "a category appears twice"),
    (edit(["columns", 1, "categories"], KeyError), "a categorical column has the keys"),
    (edit(["columns", 0, "name"], "b (missing)"), "would both be named 'b (missing)'"),
])
def test_hostile_json_is_refused_with_a_clear_message(obj, message):
    ColumnEncoding.from_json(good())  # the unedited form is fine
    with pytest.raises(ValueError, match="column encoding: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        ColumnEncoding.from_json(obj if isinstance(obj, str) else json.loads(json.dumps(obj, allow_nan=True)))


def test_errors_name_the_column(table):
    with pytest.raises(ValueError, match=r"unknown column 'nope' \(columns: size, colour, weight, label\)"):
        ColumnEncoding.fit(table, ["nope"])
    with pytest.raises(ValueError, match="categorical column 'label' is not among the input columns"):
        ColumnEncoding.fit(table, ["size"], categorical=["label"])
    with pytest.raises(ValueError, match="column 'size' is named twice"):
        ColumnEncoding.fit(table, ["size", "size"])
    with pytest.raises(ValueError, match=r"impute must be one of \('median', 'mean'\), got 'mode'"):
        ColumnEncoding.fit(table, impute="mode")
    with pytest.raises(ValueError, match="number column 'v' has no values"):
        ColumnEncoding.fit({"v": [np.nan, np.nan]})
    with pytest.raises(ValueError, match="categorical column 'c' has no values"):
        ColumnEncoding.fit({"c": np.array([None, "NA"], dtype=object)}, categorical=["c"])
    enc = ColumnEncoding.fit(table, ["size", "colour"])
    with pytest.raises(ValueError, match=r"column 'colour' is missing \(the encoding needs size, colour\)"):
        enc.transform({"size": [1.0]})
    with pytest.raises(ValueError, match=r"column 'size', row 1: 'big' is not a number \(the encoding treats 'size'"):
        enc.transform({"size": np.array([1.0, "big"], dtype=object), "colour": ["red", "red"]})
    with pytest.raises(ValueError, match=r"column 'size', row 0: inf is not a finite number"):
        enc.transform({"size": [np.inf], "colour": ["red"]})
    # from a CSV file, the reader names the line
    with pytest.raises(ValueError, match=r"t.csv, line 2, column 'label': 'a' is not a number"):
        ColumnEncoding.fit(table, ["label"], categorical=[]).transform(table)
    with pytest.raises(TypeError, match="data must be a quasinet.csvread.Table, a pandas DataFrame or a mapping"):
        ColumnEncoding.fit([[1, 2]])


# -- make_tabular ---------------------------------------------------------------------------------
def small_regressor():
    from quasinet.sklearn import QuasiNetRegressor

    return QuasiNetRegressor(hidden_layer_sizes=(3,), method="L-BFGS-B", max_iter=300, random_state=0)


def frame(n=60, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    size = rng.normal(size=n)
    y = 2.0 * size + np.where(colour == "red", 1.0, 0.0) + 0.1 * rng.normal(size=n)
    size[::7] = np.nan
    colour[3] = None
    return pd.DataFrame({"size": size, "colour": colour, "flag": rng.random(n) < 0.5}), y


def test_make_tabular_encodes_like_the_reference_and_predicts():
    pytest.importorskip("sklearn")
    X, y = frame()
    model = make_tabular(small_regressor())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit may stop at max_iter
        model.fit(X, y)
    names = list(model[:-1].get_feature_names_out())
    # the gap's category is named after pandas' missing value (None or nan, by pandas version)
    assert names[:3] + names[4:] == ["colour_blue", "colour_green", "colour_red", "size", "flag",
                                     "missingindicator_size"]
    assert names[3] in ("colour_None", "colour_nan")
    # the encoded features, by hand
    E = model[:-1].transform(X)
    size = X["size"].to_numpy()
    med = np.median(size[~np.isnan(size)])
    np.testing.assert_array_equal(E[:, 4], np.where(np.isnan(size), med, size))
    np.testing.assert_array_equal(E[:, 6], np.isnan(size))
    np.testing.assert_array_equal(E[:, 2], X["colour"].to_numpy() == "red")
    np.testing.assert_array_equal(E[:, 3], X["colour"].isna())
    # fitted well enough to matter, and an unseen category is all zeros, not an error
    assert model.score(X, y) > 0.8
    new = X.iloc[:2].copy()
    new["colour"] = ["purple", "red"]
    assert model[:-1].transform(new)[0, :4].tolist() == [0, 0, 0, 0]
    assert np.isfinite(model.predict(new)).all()


def test_make_tabular_in_cross_validate_grid_search_and_pickle():
    pytest.importorskip("sklearn")
    from sklearn.model_selection import GridSearchCV, cross_validate

    X, y = frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_validate(make_tabular(small_regressor()), X, y, cv=3)
        assert np.isfinite(scores["test_score"]).all()
        grid = GridSearchCV(make_tabular(small_regressor()), {"model__l2": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert grid.best_params_["model__l2"] in (1e-4, 1e-2)
    back = pickle.loads(pickle.dumps(grid.best_estimator_))
    np.testing.assert_array_equal(back.predict(X), grid.best_estimator_.predict(X))


def test_make_tabular_defaults_classifier_arrays_and_errors():
    pytest.importorskip("sklearn")
    from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor

    assert isinstance(make_tabular()[-1], QuasiNetRegressor)
    X, y = frame()
    clf = make_tabular(QuasiNetClassifier(hidden_layer_sizes=(3,), method="L-BFGS-B", max_iter=200, random_state=0),
                       categorical=["colour"], impute="mean")
    labels = np.where(y > 0.5, "high", "low")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, labels)
    assert set(clf.predict(X)) <= {"high", "low"} and clf.predict_proba(X).shape == (60, 2)
    # a NumPy object array: text columns are detected by their values
    A = X.to_numpy(dtype=object)
    assert ColumnKinds("categorical")(A) == [1] and ColumnKinds("number")(A) == [0, 2]
    assert ColumnKinds("categorical", [1])(A) == [1]
    with pytest.raises(ValueError, match="name categorical columns by position"):
        ColumnKinds("categorical", ["colour"])(A)
    with pytest.raises(ValueError, match="categorical column 'shade' is not a column of X"):
        ColumnKinds("categorical", ["shade"])(X)
    dated = X.assign(when=np.datetime64("2024-01-01"))
    with pytest.raises(TypeError, match="column 'when' holds dates or times"):
        ColumnKinds("number")(dated)
    with pytest.raises(ValueError, match="impute must be one of"):
        make_tabular(impute="zero")
    with pytest.raises(ValueError, match="categorical must be 'auto' or a list"):
        make_tabular(categorical="all")


def test_make_tabular_is_exported_by_quasinet_sklearn():
    pytest.importorskip("sklearn")
    import quasinet.sklearn
    import quasinet.tabular

    assert "make_tabular" in quasinet.sklearn.__all__ and not hasattr(quasinet.tabular, "make_tabular")
    assert "make_tabular" in quasinet.sklearn.__all__


def test_encoding_travels_in_a_model_file_header(table, tmp_path):
    # A model file's header is JSON: the encoding's plain form goes in and comes back equal.
    from quasinet import Network, io

    enc = ColumnEncoding.fit(table, ["size", "colour", "weight"])
    net = Network([enc.n_features, 2, 1], seed=0)
    io.save(tmp_path / "m.qnet", net, inputs=enc.feature_names(), info={"encoding": enc.to_json()})
    model = io.load_model(tmp_path / "m.qnet")
    back = ColumnEncoding.from_json(model.info["encoding"])
    assert back == enc and model.inputs == back.feature_names()
    np.testing.assert_array_equal(model.predict(back.transform(table)), net.forward(enc.transform(table)))


def test_estimators_name_text_columns_and_the_remedy():
    pd = pytest.importorskip("pandas")
    from quasinet.sklearn import QuasiNetRegressor

    df = pd.DataFrame({"model": ["Mazda RX4", "Fiat 128", "Valiant", "Duster"], "wt": [2.6, 2.2, 3.5, 3.6],
                       "cyl": pd.Categorical(["6", "4", "6", "8"])})
    with pytest.raises(ValueError, match=r"columns that are not numbers: 'model', 'cyl'\. Encode them first: "
                                         r"quasinet\.sklearn\.make_tabular"):
        QuasiNetRegressor().fit(df, [21.0, 32.4, 18.1, 14.3])
    est = QuasiNetRegressor(hidden_layer_sizes=(2,), restarts=0).fit(df[["wt"]], [21.0, 32.4, 18.1, 14.3])
    with pytest.raises(ValueError, match="columns that are not numbers: 'wt'"):
        est.predict(df[["wt"]].astype(str))
